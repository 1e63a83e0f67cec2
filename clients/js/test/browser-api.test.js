// The browser code path: the global WebSocket (the WHATWG API browsers have),
// here Node's own behind --experimental-websocket, in a child process where
// the SDK never loads `ws`. Login, a payment-free request, a batch, and a
// drop (a browser can only close(): code 4100) resumed with a missed event.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "./server.js";

const here = dirname(fileURLToPath(import.meta.url));
let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

test("the SDK over the global WebSocket (the browser API)", async () => {
  const out = await new Promise((resolve, reject) => {
    execFile(process.execPath, ["--experimental-websocket", "--no-warnings", join(here, "browser-api.child.js"), server.url],
      { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout)));
  });
  const result = JSON.parse(out.trim().split("\n").at(-1));
  assert.equal(result.usedWs, false);
  assert.equal(result.balance, 10_000);
  assert.deepEqual(result.batch, ["ok", "bad_request"]);
  assert.deepEqual(result.statuses, ["reconnecting", "resumed"]);
  assert.ok(result.replayed >= 1);
  assert.equal(result.missed, "entry.confirmed");
  assert.deepEqual(result.gaps, []);
});
