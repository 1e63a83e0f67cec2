// A session that expired while the client was away cannot be resumed: the
// client reports session_lost, and a fresh login on the new connection works.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { player, sleep } from "./helpers.js";
import { startServer } from "./server.js";

let server;
before(async () => {
  // Sessions without a connection are kept 200 ms only.
  server = await startServer({ extra: "[net]\nsession_ttl_ms = 200\n" });
});
after(async () => {
  await server?.stop();
});

test("an expired session: session_lost, then login again", async () => {
  const c = await player(server.url, { reconnect: { delayMs: 1_000 } });
  try {
    const statuses = [];
    c.onStatus((s) => statuses.push(s.state));
    const oldSession = c.session;
    c.drop();
    for (let i = 0; i < 100 && !statuses.includes("session_lost"); i++) await sleep(50);
    assert.deepEqual(statuses, ["reconnecting", "session_lost"]);
    assert.equal(c.session, null);
    assert.equal(c.state, "open");
    await assert.rejects(c.balance(), { code: "unauthenticated" });
    await c.login(); // same keypair, same wallet, new session
    assert.notEqual(c.session, oldSession);
    assert.equal(await c.balance(), 10_000);
  } finally {
    c.close();
  }
});
