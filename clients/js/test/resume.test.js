// A connection dropped from the client side reconnects, resumes its session
// and gets the events it missed, in order, with no gap and none twice.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, ArenaClosedError } from "../src/index.js";
import { BLANK, GOOD, T, player, sleep, startBattle, submitWhenOpen } from "./helpers.js";
import { startServer } from "./server.js";

let server;
const clients = [];
before(async () => {
  server = await startServer();
});
after(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

test("a dropped player resumes mid-battle and gets the missed events in order", async () => {
  // a reconnects 400 ms after the drop: b's roast lands while a is away.
  const a = await player(server.url, { reconnect: { delayMs: 400 } });
  const b = await player(server.url);
  clients.push(a, b);
  const seen = [];
  a.on("*", (_body, ev) => seen.push(ev));
  const statuses = [];
  a.onStatus((s) => statuses.push(s));

  const { match } = await startBattle(a, b);
  const start = (await a.nextEvent("battle:round_start", { match, timeout: T })).body;
  await submitWhenOpen(b, match, 1, BLANK);
  await a.nextEvent("battle:roast_submitted", { match, timeout: T }); // b's, seen live
  const session = a.session;
  const seqBefore = a.lastSeq;

  a.drop();
  // While a is away: another of b's events (a reaction) and nothing else of a's.
  await b.react(match, "🔥");
  // A request made while reconnecting waits for the resume, then succeeds.
  const balance = await a.balance();
  assert.equal(balance, 9_900);
  assert.equal(a.session, session);
  assert.equal(a.state, "open");

  const resumed = statuses.find((s) => s.state === "resumed");
  assert.ok(resumed, `statuses: ${JSON.stringify(statuses)}`);
  assert.equal(statuses[0].state, "reconnecting");
  assert.equal(resumed.lastSeq, seqBefore);
  assert.ok(resumed.replayed >= 1, "the reaction sent while away was replayed");
  const missed = (await a.nextEvent("reaction:sent", { match, timeout: T })).body;
  assert.deepEqual(missed, { match, emoji: "🔥", senderId: b.wallet, count: 1 });

  // The battle goes on on the resumed session; a still wins it.
  await submitWhenOpen(a, match, 1, GOOD(start.prompt));
  for (const round of [2, 3]) {
    const where = (body) => body.roundNumber === round;
    const s = (await a.nextEvent("battle:round_start", { match, where, timeout: T })).body;
    await submitWhenOpen(a, match, round, GOOD(s.prompt));
    await submitWhenOpen(b, match, round, BLANK);
  }
  const ended = (await a.nextEvent("battle:ended", { match, timeout: T })).body;
  assert.equal(ended.winnerId, a.wallet);
  assert.equal(ended.reason, "completed");

  // One unbroken stream: every seq once, in order, no gap recorded.
  assert.deepEqual(seen.map((e) => e.seq), seen.map((_, i) => i + 1));
  assert.deepEqual(a.seqGaps, []);
  const types = seen.map((e) => e.type);
  assert.equal(types.filter((t) => t === "reaction:sent").length, 1);
  assert.equal(types.at(-1), "battle:ended");
});

test("resume by hand on a new connection (e.g. after a page reload)", async () => {
  const a = await player(server.url, { reconnect: false });
  clients.push(a);
  const b = await player(server.url);
  clients.push(b);
  const { match } = await startBattle(a, b);
  await a.nextEvent("entry.confirmed", { match, timeout: T });
  const saved = { session: a.session, lastSeq: a.lastSeq };
  a.drop();
  await sleep(100);
  assert.equal(a.state, "closed"); // reconnect: false
  await assert.rejects(a.ping(), ArenaClosedError);

  // While nobody is connected for a, the battle goes on: round 1 starts
  // (it may have reached a before the drop) and b reacts, which a misses.
  await b.nextEvent("battle:round_start", { match, timeout: T });
  await b.react(match, "🔥");
  const a2 = await connect(server.url, { reconnect: false });
  clients.push(a2);
  const reply = await a2.resume(saved.session, saved.lastSeq);
  assert.equal(reply.resumed, true);
  assert.ok(reply.replayed >= 1);
  const ev = await a2.nextEvent("reaction:sent", { match, timeout: T });
  assert.ok(ev.seq > saved.lastSeq);
  assert.deepEqual(a2.seqGaps, []);
  b.close();
});

test("an unknown session cannot be resumed: not_found", async () => {
  const c = await connect(server.url, { reconnect: false });
  clients.push(c);
  await assert.rejects(c.resume("no-such-session", 0), { code: "not_found" });
});

test("after a server restart the client reconnects, resumes, and its numbering goes on", async () => {
  const opts = { reconnect: { delayMs: 200, maxDelayMs: 1000, attempts: 30 } };
  const a = await player(server.url, opts);
  const b = await player(server.url, opts);
  clients.push(a, b);
  const statuses = [];
  a.onStatus((s) => statuses.push(s.state));
  const seen = [];
  a.on("*", (_body, ev) => seen.push([ev.type, ev.seq]));
  const session = a.session;
  // b's tip gives a events (tip:received, wallet:updated) to number on from.
  await b.tip(a.wallet, 100);
  await a.nextEvent("wallet:updated", { timeout: T });
  const seqBefore = a.lastSeq;
  assert.ok(seqBefore >= 2, `lastSeq ${seqBefore}`);

  await server.restart(() => sleep(300)); // connections are refused meanwhile: the clients retry
  assert.equal(await a.balance(), 10_098); // waits for the resume; the ledger kept the money
  assert.equal(a.session, session);
  assert.deepEqual(statuses, ["reconnecting", "resumed"]);

  // A new event after the restart takes the next number.
  await b.tip(a.wallet, 100);
  const after = await a.nextEvent("wallet:updated", { where: (u) => u.balance === 10_196, timeout: T });
  assert.ok(after.seq > seqBefore);
  assert.deepEqual(a.seqGaps, []);
  assert.deepEqual(seen.map(([, seq]) => seq), seen.map((_, i) => i + 1));
});
