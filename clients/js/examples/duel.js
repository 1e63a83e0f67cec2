// Two players battle each other on a running server, printing the scores:
//   node examples/duel.js [ws://127.0.0.1:8765/v1]
// (start one with `make run` at the repository root; it needs the faucet on).
import { connect, DEFAULT_URL } from "../src/index.js";

const url = process.argv[2] ?? DEFAULT_URL;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function play(name, line) {
  const c = await connect(url, { clientName: `duel-${name}` });
  await c.login();
  await c.faucet();
  await c.queue("bronze");
  const { body: found } = await c.nextEvent("match.found", { timeout: 60_000 });
  console.log(`${name}: ${c.wallet} vs ${found.opponent} in ${found.match}`);
  await c.payEntry(found.match);
  for (;;) {
    const { type, body } = await c.nextEvent(["battle:round_start", "battle:score_revealed", "battle:ended"],
      { match: found.match, timeout: 120_000 });
    if (type === "battle:score_revealed") {
      if (body.playerId === c.wallet) console.log(`${name}: round ${body.roundNumber} scored ${body.score}: ${body.commentary}`);
    } else if (type === "battle:round_start") {
      await sleep(body.countdown + 100); // recording opens after the countdown
      await c.submit(found.match, body.roundNumber, line(body.prompt));
    } else {
      const won = body.winnerId === c.wallet ? "won" : body.winnerId ? "lost" : "drew";
      // The payout reaches the ledger just after battle:ended; wallet:updated tells when.
      const balance = won === "won"
        ? (await c.nextEvent("wallet:updated", { where: (u) => u.reason === "completed", timeout: 10_000 })).body.balance
        : await c.balance();
      console.log(`${name}: ${won} (${body.reason}), prize ${body.prizeAmount}, balance ${balance}`);
      break;
    }
  }
  c.close();
}

await Promise.all([
  play("A", (p) => `On "${p}": your jokes are so stale the bread aisle filed a complaint, and the croutons testified!`),
  play("B", (p) => `${p}? Meh.`),
]);
