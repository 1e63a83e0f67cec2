// The lottery page: the rounds (match.list), one round's proposition, state
// and live pool (lottery.watch, then lottery:pool at most once a second),
// betting with the development wallet (lottery.bet.build -> sign ->
// lottery.bet.confirm), the player's own bets and the round's outcome.

import { clock, el, explain, fillList, short, showBoard, showMatches, start, toast } from "/static/page.js";

const $ = (id) => document.getElementById(id);
const STATES = {
  open: "open for bets", locked: "betting closed", awaiting_result: "waiting for the draw result",
  finalized: "result in", settled: "settled: winnings paid", void: "void: every stake refunded",
};

let client = null;
let current = null; // the round shown
let round = null; // its lottery.round reply

function describe(r) {
  const game = r.game === "powerball" ? "Powerball" : r.game === "megamillions" ? "Mega Millions" : r.game;
  const p = r.proposition;
  const what = p.kind === "bonus_parity" ? "the bonus ball is odd"
    : p.kind === "bonus_over" ? `the bonus ball is above ${p.threshold}`
    : p.kind === "white_sum_over" ? `the five white balls add up to more than ${p.threshold}`
    : p.kind;
  return `${game}, draw of ${new Date(r.draw_time_ms).toLocaleString()}: “yes” wins if ${what}.`;
}

async function refreshList() {
  if (!client) return;
  const rounds = await showMatches(client, "lottery", $("rounds"), {
    rowAttr: "round", current, open: show, columns: 5,
    empty: "No rounds yet. An operator opens one with lottery.create.",
    cells: (m) => [el("td", { title: m.match }, m.match.slice(-10)), el("td", {}, STATES[m.phase] ?? m.phase),
      el("td", {}, m.players.length), el("td", {}, m.watchers)],
  });
  if (rounds === null) return;
  try {
    const s = await client.request("lottery.stats", {});
    $("stats").textContent = `${s.rounds} rounds · ${s.bettors} bettors · volume ${s.volume} · paid ${s.paid}`;
  } catch {
    // optional
  }
}

function drawPool(pool) {
  if (pool.round !== current) return;
  for (const side of ["yes", "no"]) {
    $(`${side}-total`).textContent = String(pool[side].total);
    $(`${side}-matched`).textContent = String(pool[side].matched);
  }
}

function drawRound() {
  $("round-id").textContent = round.round.slice(-10);
  $("proposition").textContent = describe(round);
  $("state").textContent = STATES[round.state] ?? round.state;
  $("state").dataset.state = round.state;
  $("bet-button").disabled = round.state !== "open";
  tickTimes();
}

function tickTimes() {
  if (!round) return;
  const now = Date.now();
  $("times").textContent = round.state === "open"
    ? `betting closes in ${clock(round.lock_time_ms - now)}`
    : now < round.draw_time_ms ? `draw in ${clock(round.draw_time_ms - now)}` : `drawn ${new Date(round.draw_time_ms).toLocaleString()}`;
}

async function refreshMine() {
  if (!current) return;
  const { bets } = await client.request("lottery.my_bets", { round: current });
  fillList($("my-bets"), bets.map((b) =>
    el("tr", { "data-bet": b.bet }, el("td", {}, b.bet.slice(-8)), el("td", {}, b.side),
      el("td", {}, b.amount), el("td", {}, b.matched), el("td", {}, b.state))),
  "You have no bets in this round.", 5);
}

async function show(id) {
  current = id;
  location.hash = id;
  $("detail").hidden = false;
  $("outcome").textContent = "";
  try {
    round = await client.request("lottery.round", { round: id });
    drawRound();
    drawPool(await client.request("lottery.pool", { round: id }));
    await client.watchRound(id);
    await refreshMine();
  } catch (err) {
    toast(explain(err));
  }
  refreshList();
}

async function reloadRound() {
  if (!current) return;
  round = await client.request("lottery.round", { round: current });
  drawRound();
  await refreshMine();
  await refreshList();
}

$("bet-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const side = new FormData(ev.target).get("side");
  const amount = Number($("bet-amount").value);
  if (!current || !(amount > 0)) return;
  $("bet-button").disabled = true;
  try {
    const r = await client.bet(current, side, amount);
    toast(`Bet ${amount} on “${side}”: ${r.status}`);
    await refreshMine();
  } catch (err) {
    toast(explain(err));
  } finally {
    $("bet-button").disabled = round?.state !== "open";
  }
});

function listen(c) {
  c.on("lottery:pool", drawPool);
  const mine = (body) => body.round === current;
  c.on("lottery:bet_matched", (b) => mine(b) && refreshMine());
  c.on("lottery:round_locked", (b) => mine(b) && reloadRound());
  c.on("lottery:round_finalized", (b) => {
    if (!mine(b)) return;
    // A simulated feed labels its answers so; the page says it plainly.
    const simulated = (b.sources ?? []).some((src) => JSON.stringify(src).includes("simulated"));
    $("outcome").textContent = `Result: “${b.outcome}” wins.${simulated ? " (SIMULATED draw result, not a real draw.)" : ""}`;
    reloadRound();
  });
  c.on("lottery:round_void", (b) => {
    if (!mine(b)) return;
    $("outcome").textContent = `Round void (${b.reason}): every stake is refunded.`;
    reloadRound();
  });
  c.on("lottery:winnings_claimed", (b) => {
    if (b.wallet === c.wallet) toast(`You won ${b.amount} in round ${short(b.round)}`);
    if (mine(b)) reloadRound().catch(() => {});
  });
  c.on("lottery:refund_issued", (b) => b.wallet === c.wallet && toast(`Refunded ${b.amount} from round ${short(b.round)}`));
}

setInterval(() => {
  // settlement has no event of its own for a watcher: look again until the round is done
  if (round && !["settled", "void"].includes(round.state)) reloadRound().catch(() => {});
  else refreshList();
}, 3000);
setInterval(tickTimes, 500);
setInterval(() => client && showBoard(client, "lottery.winnings", $("board-winnings"), "no winnings yet").catch(() => {}), 15_000);

await start({
  clientName: "arena-web-lottery",
  ready: async (c) => {
    if (!client) listen(c);
    client = c;
    await refreshList();
    const wanted = location.hash.slice(1);
    if (current || wanted) await show(current ?? wanted);
  },
});
