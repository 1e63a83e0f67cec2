// The roast battles page: a lobby of live battles (match.list), watching one
// (match.watch, then the battle's events: prompt, countdown, submissions,
// scores as they are revealed with the judge's commentary, the winner),
// sending reactions and tips.

import { clock, el, explain, fillList, short, showBoard, start, toast } from "/static/page.js";

const REACTIONS = ["🔥", "😂", "💀", "👏"];
const $ = (id) => document.getElementById(id);

let client = null;
let current = null; // the watched battle's id
let battle = null; // what the page knows of it: {players, scores, round, rounds, phase, deadlineAt}

// --- lobby -------------------------------------------------------------------------------
async function refreshLobby() {
  if (!client || current) return;
  let matches;
  try {
    matches = await client.listMatches("roast", { limit: 50 });
  } catch (err) {
    $("matches").replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "error" }, explain(err))));
    return;
  }
  fillList($("matches"), matches.map((m) =>
    el("tr", { "data-match": m.match },
      el("td", { title: m.match }, m.match.slice(-8)),
      el("td", {}, m.players.map(short).join(" vs ")),
      el("td", {}, m.phase),
      el("td", {}, m.watchers),
      el("td", {}, el("button", { class: "watch", onclick: () => watch(m.match) }, "Watch")))),
  "No live battles right now. Battles appear here as players (or bots: python -m arena bot --count 4) play.", 5);
}

async function refreshBoards() {
  await showBoard(client, "roast.wins", $("board-wins"), "no battles won yet");
  await showBoard(client, "roast.earnings", $("board-earnings"), "no prizes yet");
}

// --- watching -----------------------------------------------------------------------------
function slot(wallet) {
  return battle?.players[0] === wallet ? $("p1") : battle?.players[1] === wallet ? $("p2") : null;
}

function drawPlayers() {
  battle.players.forEach((w, i) => {
    const node = i === 0 ? $("p1") : $("p2");
    node.querySelector(".name").textContent = short(w);
    node.querySelector(".name").title = w;
    node.querySelector(".score").textContent = String(battle.scores[i] ?? 0);
  });
}

function drawReactions(counts) {
  $("reaction-counts").textContent = Object.entries(counts).map(([e, n]) => `${e} ${n}`).join("  ");
}

async function watch(match) {
  current = match;
  battle = { players: [], scores: [0, 0], round: 0, rounds: 3, phase: "", deadlineAt: 0, reactions: {} };
  location.hash = match;
  $("lobby").hidden = true;
  $("watch").hidden = false;
  $("watch-id").textContent = match.slice(-8);
  $("rounds").replaceChildren(el("li", { class: "empty" }, "No score revealed yet."));
  $("winner").textContent = "";
  $("prompt").textContent = "";
  for (const p of [$("p1"), $("p2")]) {
    p.classList.remove("won");
    p.querySelector(".state").textContent = "";
  }
  try {
    await client.watch(match); // a match.snapshot event follows
  } catch (err) {
    toast(explain(err));
    back();
  }
}

function back() {
  current = null;
  battle = null;
  history.replaceState(null, "", location.pathname);
  $("watch").hidden = true;
  $("lobby").hidden = false;
  refreshLobby();
}

function onSnapshot(s) {
  if (s.match !== current) return;
  const st = s.state;
  battle.players = st.players;
  battle.scores = [st.scores?.player1 ?? 0, st.scores?.player2 ?? 0];
  battle.round = st.round;
  battle.rounds = st.rounds;
  battle.phase = st.phase;
  battle.deadlineAt = performance.now() + (st.deadline_ms ?? 0);
  drawPlayers();
  drawReactions(st.reactions ?? {});
  $("round").textContent = `Round ${st.round} of ${st.rounds} · ${st.phase}`;
  if (st.prompt) $("prompt").textContent = st.prompt;
  for (const w of st.submitted ?? []) slot(w).querySelector(".state").textContent = "roast submitted";
}

function tickCountdown() {
  if (!battle?.deadlineAt) return;
  const left = battle.deadlineAt - performance.now();
  const what = { countdown: "recording starts in", recording: "recording: time left", scoring: "the judge is scoring" }[battle.phase];
  $("countdown").textContent = what ? (battle.phase === "scoring" ? what + "…" : `${what} ${clock(left)}`) : "";
}

function listen(c) {
  c.on("match.snapshot", onSnapshot);
  c.on("battle:round_start", (r) => {
    if (r.match !== current) return;
    battle.round = r.roundNumber;
    battle.phase = "countdown";
    battle.deadlineAt = performance.now() + r.countdown;
    setTimeout(() => {
      if (battle && battle.round === r.roundNumber && battle.phase === "countdown") {
        battle.phase = "recording";
        battle.deadlineAt = performance.now() + r.timeLimit;
      }
    }, r.countdown);
    $("round").textContent = `Round ${r.roundNumber} of ${battle.rounds}`;
    $("prompt").textContent = r.prompt;
    for (const p of [$("p1"), $("p2")]) p.querySelector(".state").textContent = "";
  });
  c.on("battle:roast_submitted", (s) => {
    if (s.match !== current) return;
    const node = slot(s.playerId);
    if (node) node.querySelector(".state").textContent = "roast submitted";
  });
  c.on("battle:score_revealed", (s) => {
    if (s.match !== current) return;
    battle.phase = "scoring";
    const i = battle.players.indexOf(s.playerId);
    if (i >= 0) battle.scores[i] += s.score;
    drawPlayers();
    const list = $("rounds");
    if (list.querySelector(".empty")) list.replaceChildren();
    const b = s.breakdown;
    list.append(el("li", { class: "score-revealed", "data-round": s.roundNumber, "data-player": s.playerId },
      el("strong", {}, `Round ${s.roundNumber}: ${short(s.playerId)} scored ${s.score}`),
      ` (savagery ${b.savagery}, creativity ${b.creativity}, delivery ${b.delivery}, relevance ${b.relevance})`,
      el("div", { class: "commentary" }, s.commentary)));
  });
  c.on("reaction:sent", (r) => {
    if (r.match !== current) return;
    battle.reactions[r.emoji] = r.count;
    drawReactions(battle.reactions);
  });
  c.on("battle:ended", (e) => {
    if (e.match !== current) return;
    battle.phase = "ended";
    battle.deadlineAt = 0;
    $("countdown").textContent = "";
    battle.scores = [e.finalScores.player1, e.finalScores.player2];
    drawPlayers();
    const text = e.reason === "cancelled" ? "Cancelled: every entry fee was refunded."
      : e.winnerId ? `Winner: ${short(e.winnerId)}, prize ${e.prizeAmount}${e.reason === "forfeit" ? " (by forfeit)" : ""}`
      : "A draw.";
    $("winner").textContent = text;
    $("winner").dataset.winner = e.winnerId ?? "";
    slot(e.winnerId)?.classList.add("won");
    $("round").textContent = `Battle over (${e.reason})`;
    setTimeout(() => refreshBoards().catch(() => {}), 1000); // the boards count it once the store has it
  });
  c.on("tip:received", (t) => toast(`${short(t.from)} tipped ${short(t.to)} ${t.amount}`));
}

$("reaction-buttons").replaceChildren(...REACTIONS.map((emoji) =>
  el("button", { class: "react", "data-emoji": emoji, title: "react", onclick: async () => {
    try {
      await client.react(current, emoji);
    } catch (err) {
      toast(explain(err));
    }
  } }, emoji)));
for (const button of document.querySelectorAll("[data-tip]")) {
  button.onclick = async () => {
    const to = battle?.players[Number(button.dataset.tip)];
    const amount = Number($("tip-amount").value);
    if (!to || !(amount > 0)) return;
    try {
      const r = await client.tip(to, amount, current);
      toast(`Tipped ${short(to)} ${r.amount} (fee ${r.fee})`);
    } catch (err) {
      toast(explain(err));
    }
  };
}
$("back").onclick = back;
setInterval(refreshLobby, 2000);
setInterval(tickCountdown, 250);
setInterval(() => client && refreshBoards().catch(() => {}), 15_000);

await start({
  clientName: "arena-web-battles",
  ready: async (c) => {
    if (!client) listen(c);
    client = c;
    refreshBoards().catch(() => {});
    const wanted = location.hash.slice(1);
    if (wanted && !current) await watch(wanted);
    else if (current) await watch(current);
    else await refreshLobby();
  },
});
