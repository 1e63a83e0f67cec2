// Type-checked (not run) by test/types.test.js: the declarations describe the API.
import { connect, ArenaError, Keypair, decodePixels, inflateBitmap, type BattleEnded, type CanvasWeek, type Leaderboard } from "@arena/client";

async function main(): Promise<void> {
  const c = await connect("ws://127.0.0.1:8765/v1", { keypair: Keypair.generate(), reconnect: { delayMs: 100 } });
  const hello = await c.hello();
  const n: number = hello.tick_hz;
  await c.login();
  const balance: number = await c.faucet();
  await c.queue("bronze");
  const found = await c.nextEvent("match.found", { timeout: 30_000 });
  const players: [string, string] = found.body.players;
  const status: "pending" | "confirmed" = await c.payEntry(found.body.match);
  c.on("battle:score_revealed", (body) => {
    const s: number = body.breakdown.savagery + body.score;
    void s;
  });
  const ended = await c.nextEvent("battle:ended", { match: found.body.match, where: (b) => b.reason !== "cancelled" });
  const e: BattleEnded = ended.body;
  const board: Leaderboard = await c.leaderboard("roast.wins", { period: "week", around: c.wallet ?? undefined });
  const results = await c.batch([["ping", {}], { type: "wallet.balance" }]);
  for (const r of results) if (r instanceof ArenaError) console.log(r.code, r.retryAfterMs);
  try {
    await c.request("roast.submit", { match: "m", round: 1, text: "x" });
  } catch (err) {
    if (err instanceof ArenaError && err.code === "wrong_state") console.log(err.serverMessage);
  }
  const unsubscribe = c.onStatus((s) => {
    if (s.state === "resumed") console.log(s.replayed);
  });
  unsubscribe();
  const week: CanvasWeek = await c.canvasJoin();
  const first: number = week.pixels[0] + week.width * week.height;
  const wait: number = await c.place(0, 0, week.palette.length - 1);
  c.on("canvas:pixels", (body) => {
    for (const p of decodePixels(body.pixels)) console.log(p.x, p.y, p.color);
  });
  const raw: Uint8Array = await inflateBitmap(week.bitmap, week.width, week.height);
  await c.watchRound("r");
  c.on("lottery:pool", (pool) => console.log(pool.yes.total + pool.no.matched));
  const placed: { status: "pending" | "confirmed"; bet: string } = await c.bet("r", "yes", 10);
  const joined: { status: "pending" | "confirmed"; amount: number } =
    await c.joinContest("co", [{ token: "So111", weight_bps: 10_000 }]);
  c.on("contest:rankings", (r) => console.log(r.stale, r.rankings[0]?.score_bps));
  const dep: number = (await c.deposit(30)).balance;
  const rate: number = (await c.viewStart("me")).rate_per_s;
  await c.viewBeat("me");
  c.on("view:charged", (v) => console.log(v.seconds, v.amount, v.balance));
  c.on("view:stopped", (v) => console.log(v.reason === "no_beat"));
  const watched: number = (await c.viewStop()).seconds;
  await c.listContent("me", 50);
  await c.unlistContent("me");
  const fee: number = (await c.buyContent("me")).fee;
  c.close();
  void n, balance, players, status, e, board, first, wait, raw, placed, joined, dep, rate, watched, fee;
}
void main;
