// Two clients play a roast battle to battle:ended with real payments; a
// spectator watches, reacts and tips; then the platform reads see it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { BLANK, GOOD, T, eventually, player, startBattle, submitWhenOpen } from "./helpers.js";
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

test("a full battle with entry fees, a tip, reactions, payout and reads", async () => {
  const [a, b, w] = await Promise.all([player(server.url), player(server.url), player(server.url)]);
  clients.push(a, b, w);
  const seen = { a: [], w: [] };
  a.on("*", (_body, ev) => seen.a.push(ev));
  w.on("*", (_body, ev) => seen.w.push(ev));
  const walletUpdates = [];
  a.on("wallet:updated", (body) => walletUpdates.push(body));

  // The spectator watches before the fees are paid (a snapshot follows) and
  // finds the battle in the live list.
  let snap;
  const found = await startBattle(a, b, "bronze", async ({ match }) => {
    assert.deepEqual(await w.watch(match), {});
    snap = (await w.nextEvent("match.snapshot", { match, timeout: T })).body;
    const live = await w.listMatches("roast");
    assert.ok(live.some((m) => m.match === match && m.tier === "bronze"));
  });
  const match = found.match;
  assert.deepEqual(snap.state.players, [a.wallet, b.wallet]);
  assert.equal(snap.state.phase, "entry");
  assert.equal(found.entry_fee, 100);
  assert.equal(await a.balance(), 9_900);

  let totalA = 0;
  for (const round of [1, 2, 3]) {
    const thisRound = (body) => body.roundNumber === round;
    const start = (await a.nextEvent("battle:round_start", { match, where: thisRound, timeout: T })).body;
    await w.nextEvent("battle:round_start", { match, where: thisRound, timeout: T });
    assert.equal(typeof start.prompt, "string");
    assert.equal(start.timeLimit, 3000);
    if (round === 2) {
      await w.react(match, "🔥");
      const tip = await w.tip(a.wallet, 1_000, match);
      assert.deepEqual(tip, { status: "confirmed", amount: 1_000, fee: 20 });
      const got = (await a.nextEvent("tip:received", { timeout: T })).body;
      assert.deepEqual(got, { from: w.wallet, to: a.wallet, amount: 1_000, fee: 20, match });
    }
    assert.deepEqual(await submitWhenOpen(a, match, round, GOOD(start.prompt)), {});
    assert.deepEqual(await submitWhenOpen(b, match, round, BLANK), {});
    const scores = [];
    for (let i = 0; i < 2; i++) scores.push((await a.nextEvent("battle:score_revealed", { match, where: thisRound, timeout: T })).body);
    assert.deepEqual(scores.map((s) => s.playerId), [a.wallet, b.wallet]); // player1 first
    for (const s of scores) {
      const { savagery, creativity, delivery, relevance } = s.breakdown;
      assert.equal(s.score, savagery + creativity + delivery + relevance);
    }
    totalA += scores[0].score;
  }

  const ends = await Promise.all([a, b, w].map((c) => c.nextEvent("battle:ended", { match, timeout: T })));
  const ended = ends[0].body;
  for (const e of ends) assert.deepEqual(e.body, ended);
  assert.equal(ended.winnerId, a.wallet);
  assert.equal(ended.reason, "completed");
  assert.equal(ended.prizeAmount, 190); // pool 200 less the 5 % platform fee
  assert.deepEqual(ended.finalScores, { player1: totalA, player2: 0 });

  // Money: a paid 100, got a 980 tip and the 190 prize; w paid the 1000 tip.
  const balanceA = await eventually(() => a.balance(), (v) => v === 10_000 - 100 + 980 + 190);
  assert.equal(balanceA, 11_070);
  assert.equal(await b.balance(), 9_900);
  assert.equal(await w.balance(), 9_000);
  const reasons = walletUpdates.map((u) => [u.reason, u.change]);
  assert.deepEqual(reasons.filter(([r]) => r !== "faucet"), [["entry", -100], ["tip_received", 980], ["completed", 190]]);

  // The events arrived numbered 1, 2, 3, ... with no gap.
  for (const [name, c] of [["a", a], ["w", w]]) {
    assert.deepEqual(seen[name].map((e) => e.seq), seen[name].map((_, i) => seen[name][0].seq + i));
    assert.deepEqual(c.seqGaps, []);
  }
  assert.deepEqual(seen.w.map((e) => e.type).filter((t) => t.startsWith("battle:")).slice(-1), ["battle:ended"]);

  // Platform reads after the battle.
  const board = await eventually(() => a.leaderboard("roast.wins"), (r) => r.entries.some((e) => e.wallet === a.wallet));
  assert.equal(board.board, "roast.wins");
  assert.equal(board.period, "all");
  assert.deepEqual(board.entries.find((e) => e.wallet === a.wallet), { rank: 1, wallet: a.wallet, username: null, score: 1 });
  const earnings = await a.leaderboard("roast.earnings", { around: a.wallet, limit: 5 });
  assert.equal(earnings.entries.find((e) => e.wallet === a.wallet).score, 190);

  const hist = await eventually(() => b.history({ wallet: a.wallet }), (h) => h.matches.length > 0);
  const item = hist.matches[0];
  assert.equal(item.match, match);
  assert.equal(item.mode, "roast");
  assert.equal(item.result.winner, a.wallet);
  assert.equal(item.result.prize, 190);
  assert.deepEqual(item.result.players, [a.wallet, b.wallet]);
  assert.equal(item.result.rounds.length, 3);
  assert.deepEqual(item.result.tips, [{ from: w.wallet, to: a.wallet, amount: 1_000, fee: 20 }]);
  assert.equal(hist.next, null);

  // Profiles: set a username, read it back from another client.
  const name = "js_" + a.wallet.slice(0, 8).replace(/[^A-Za-z0-9]/g, "x");
  const mine = await a.setProfile({ username: name });
  assert.equal(mine.username, name);
  const theirs = await b.profile(a.wallet);
  assert.equal(theirs.username, name);
  assert.equal(theirs.stats["roast.wins"], 1);
  await assert.rejects(b.setProfile({ username: name.toUpperCase() }), { code: "duplicate" });
});
