// hello, login (auth.login and auth.siws), error codes, batches, framing.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, ArenaError, Keypair, verify, decodeFrame, encodeBatch } from "../src/index.js";
import { startServer } from "./server.js";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

describe("codec and keys (no server)", () => {
  test("a batch frame decodes to its envelopes; a single envelope to one", () => {
    const frame = encodeBatch([[1, "ping", {}], [2, "hello", { protocol: 1 }]]);
    assert.deepEqual(decodeFrame(frame), [[0, 1, "ping", {}], [0, 2, "hello", { protocol: 1 }]]);
  });

  test("a 64-byte Solana keypair round-trips and signs verifiably", () => {
    const kp = Keypair.generate();
    const again = Keypair.fromBytes(kp.toBytes());
    assert.equal(again.address, kp.address);
    const sig = again.sign("arena:login:abc");
    assert.equal(sig.length, 64);
    assert.ok(verify(sig, "arena:login:abc", kp.address));
    assert.ok(!verify(sig, "arena:login:abd", kp.address));
  });
});

describe("session", () => {
  test("hello then login with a generated keypair", async () => {
    const c = await connect(server.url, { reconnect: false });
    try {
      const hello = await c.hello();
      assert.equal(hello.protocol, 1);
      assert.equal(typeof hello.nonce, "string");
      assert.equal(hello.domain, "localhost");
      const body = await c.login();
      assert.equal(typeof body.session, "string");
      assert.equal(body.user.wallet, c.keypair.address);
      assert.equal(c.wallet, c.keypair.address);
      assert.ok((await c.ping()) >= 0);
    } finally {
      c.close();
    }
  });

  test("a given keypair logs in as its address; a second login is wrong_state", async () => {
    const kp = Keypair.generate();
    const c = await connect(server.url, { keypair: kp, reconnect: false });
    try {
      const body = await c.login(); // sends hello itself
      assert.equal(body.user.id, kp.address);
      await assert.rejects(c.login(), (e) => e instanceof ArenaError && e.code === "wrong_state");
    } finally {
      c.close();
    }
  });

  test("loginSiws signs a Sign-In With Solana message", async () => {
    const c = await connect(server.url, { reconnect: false });
    try {
      await c.hello();
      const body = await c.loginSiws();
      assert.equal(body.user.wallet, c.wallet);
      assert.equal(typeof c.session, "string");
    } finally {
      c.close();
    }
  });

  test("loginSiws through a wallet-adapter style signMessage", async () => {
    const kp = Keypair.generate();
    const c = await connect(server.url, { reconnect: false });
    try {
      let signed = null;
      const body = await c.loginSiws({
        address: kp.address,
        signMessage: async (bytes) => {
          signed = new TextDecoder().decode(bytes);
          return kp.sign(bytes);
        },
      });
      assert.equal(body.user.wallet, kp.address);
      assert.match(signed, /^localhost wants you to sign in with your Solana account:\n/);
      assert.ok(signed.includes(`\nNonce: `));
    } finally {
      c.close();
    }
  });

  test("loginKey logs an agent in with an API key made by `arena keys create`", async () => {
    const key = server.createKey("agent", "js-agent");
    const c = await connect(server.url, { reconnect: false });
    try {
      const body = await c.loginKey(key); // sends hello itself
      assert.equal(body.session.length > 0, true);
      assert.deepEqual({ id: body.user.id, name: body.user.name, role: body.user.role },
        { id: "key:js-agent", name: "js-agent", role: "agent" });
      // An API key session has no wallet: profile.set is not_allowed.
      await assert.rejects(c.setProfile({ username: "agent_js" }), { code: "not_allowed" });
    } finally {
      c.close();
    }
  });

  test("loginKey with a wrong key is auth_failed", async () => {
    const c = await connect(server.url, { reconnect: false });
    try {
      await assert.rejects(c.loginKey("not-a-key"), (e) => e instanceof ArenaError && e.code === "auth_failed");
    } finally {
      c.close();
    }
  });
});

describe("errors carry stable codes", () => {
  test("unauthenticated before login, unknown_type, bad_request, auth_failed", async () => {
    const c = await connect(server.url, { reconnect: false });
    try {
      await assert.rejects(c.request("hello", { protocol: 2, client: "js-test" }), { code: "unsupported_protocol" });
      await c.hello();
      await assert.rejects(c.balance(), (e) => {
        assert.ok(e instanceof ArenaError);
        assert.equal(e.code, "unauthenticated");
        assert.equal(typeof e.serverMessage, "string");
        return true;
      });
      await assert.rejects(c.request("no.such.type", {}), { code: "unknown_type" });
      // A wrong signature uses up the nonce and fails.
      await assert.rejects(
        c.request("auth.login", { wallet: Keypair.generate().address, signature: new Uint8Array(64) }),
        { code: "auth_failed" },
      );
      await c.login();
      await assert.rejects(c.request("queue.join", { mode: "roast", tier: 42 }), { code: "bad_request" });
      await assert.rejects(c.request("queue.join", { mode: "roast", tier: "plastic" }), { code: "bad_request" });
      await assert.rejects(c.payEntry("no-such-match"), { code: "not_found" });
      await assert.rejects(c.tip(c.wallet, 10), { code: "bad_request" }); // not to yourself
      await c.faucet();
      await assert.rejects(c.tip(Keypair.generate().address, 10 ** 9), { code: "insufficient_funds" });
    } finally {
      c.close();
    }
  });

  test("rate_limited carries retryAfterMs", async () => {
    const c = await connect(server.url, { reconnect: false });
    try {
      await c.login();
      // The read bucket (reads_burst 40) empties first; 64 reads in one batch overflow it.
      const results = await c.batch(Array.from({ length: 64 }, () => ["profile.get", { wallet: c.wallet }]));
      const limited = results.filter((r) => r instanceof ArenaError);
      assert.ok(limited.length > 0, "some reads are rate limited");
      for (const e of limited) {
        assert.equal(e.code, "rate_limited");
        assert.ok(Number.isInteger(e.retryAfterMs) && e.retryAfterMs > 0);
      }
    } finally {
      c.close();
    }
  });
});

describe("batches", () => {
  test("replies come back in order, errors as ArenaError entries", async () => {
    const c = await connect(server.url, { reconnect: false });
    try {
      await c.login();
      const [faucet, balance, bad, ping] = await c.batch([
        ["wallet.faucet", {}],
        { type: "wallet.balance", body: {} },
        ["queue.join", { mode: "roast" }],
        ["ping", {}],
      ]);
      assert.equal(faucet.balance, 10_000);
      assert.equal(balance.balance, 10_000);
      assert.ok(bad instanceof ArenaError);
      assert.equal(bad.code, "bad_request");
      assert.ok(Number.isInteger(ping.tick));
      assert.deepEqual(await c.batch([]), []);
      await assert.rejects(c.batch(Array.from({ length: 65 }, () => ["ping", {}])), RangeError);
    } finally {
      c.close();
    }
  });

  test("a closed client rejects requests with ArenaClosedError", async () => {
    const c = await connect(server.url, { reconnect: false });
    await c.hello();
    c.close();
    await assert.rejects(c.ping(), { name: "ArenaClosedError" });
    await assert.rejects(c.nextEvent("x", { timeout: 100 }), { name: "ArenaClosedError" });
  });
});
