// Frame handling without a server: the client's _onFrame fed with the bytes
// a server would send (batches, gaps, stray replies, off-protocol input).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ArenaClient, ArenaError, encodeValue } from "../src/index.js";

function offline() {
  const c = new ArenaClient("ws://127.0.0.1:1/v1", { reconnect: false });
  c.state = "open";
  c._link = { send() {}, close() {}, drop() {} };
  return c;
}

test("a batch frame is read as its envelopes in order; gaps are recorded and reported", async () => {
  const c = offline();
  const seen = [];
  const statuses = [];
  c.on("*", (body, ev) => seen.push([ev.type, ev.seq, body.n]));
  c.onStatus((s) => statuses.push(s));
  c._onFrame(encodeValue([[2, 1, "a", { n: 1 }], [2, 2, "b", { n: 2 }]]));
  c._onFrame(encodeValue([2, 5, "a", { n: 3 }])); // 3 and 4 are missing
  assert.deepEqual(seen, [["a", 1, 1], ["b", 2, 2], ["a", 5, 3]]);
  assert.equal(c.lastSeq, 5);
  assert.deepEqual(c.seqGaps, [{ expected: 3, got: 5 }]);
  assert.deepEqual(statuses, [{ state: "gap", expected: 3, got: 5 }]);
  // nextEvent takes buffered events by type, oldest first.
  assert.equal((await c.nextEvent("a")).body.n, 1);
  assert.equal((await c.nextEvent("a")).body.n, 3);
  assert.equal((await c.nextEvent(null)).type, "b");
  await assert.rejects(c.nextEvent("a", { timeout: 20 }), { name: "ArenaTimeoutError" });
});

test("replies resolve their requests by rid, in any order; stray replies are kept", async () => {
  const c = offline();
  const sent = [];
  c._link.send = (bytes) => sent.push(bytes);
  const p1 = c.request("ping", {});
  const p2 = c.request("wallet.balance", {});
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(sent.length, 2);
  c._onFrame(encodeValue([[1, 2, "error", { code: "rate_limited", message: "slow", retry_after_ms: 75 }], [1, 1, "ok", { tick: 9 }]]));
  assert.deepEqual(await p1, { tick: 9 });
  await assert.rejects(p2, (e) => e instanceof ArenaError && e.code === "rate_limited" && e.retryAfterMs === 75 && e.message === "slow");
  c._onFrame(encodeValue([1, 0, "error", { code: "bad_frame", message: "not msgpack" }]));
  assert.deepEqual(c.unclaimedReplies, [{ rid: 0, status: "error", body: { code: "bad_frame", message: "not msgpack" } }]);
});

test("off-protocol input never throws and is logged", () => {
  const c = offline();
  c._onFrame("text");
  c._onFrame(new Uint8Array([0xc1])); // never used in MessagePack
  c._onFrame(encodeValue([7, 1, "x", {}]));
  c._onFrame(encodeValue({ not: "an envelope" }));
  assert.equal(c.protocolErrors.length, 4);
});

test("a listener that throws does not stop the others; off() removes one", () => {
  const c = offline();
  const got = [];
  c.on("e", () => {
    throw new Error("boom");
  });
  const fn = (body) => got.push(body.n);
  const off = c.on("e", fn);
  c._onFrame(encodeValue([2, 1, "e", { n: 1 }]));
  off();
  c._onFrame(encodeValue([2, 2, "e", { n: 2 }]));
  assert.deepEqual(got, [1]);
  assert.equal(c.protocolErrors.length, 2);
});
