// The contests page: the contests (match.list), one contest's terms, state
// and live rankings (contest.watch, then contest:rankings at most once a
// second, with its stale flag), joining with a portfolio of weighted tokens
// paid with the development wallet (contest.join.build -> sign ->
// contest.join.confirm) and the final prizes.

import { clock, el, explain, fillList, short, showBoard, showMatches, start, toast } from "/static/page.js";

const $ = (id) => document.getElementById(id);
const FULL_WEIGHT = 10_000; // basis points: a portfolio's weights add up to exactly this
const STATES = {
  registration: "open for entries", active: "running", evaluating: "ended: waiting for fresh prices to evaluate",
  settled: "settled: prizes paid", cancelled: "cancelled: every fee refunded",
};

let client = null;
let current = null; // the contest shown
let contest = null; // its contest.get reply
let tokens = {}; // token -> {symbol, price, decimals, listed} from contest.tokens
let pushed = null; // the contest whose contest:rankings arrived (their stale flag is the truth)

async function refreshList() {
  if (!client) return;
  await showMatches(client, "contest", $("contests"), {
    rowAttr: "contest", current, open: show, columns: 5,
    empty: "No contests yet. An operator opens one with contest.create (or [contest] recurring).",
    cells: (m) => [el("td", { title: m.match }, m.match.slice(-10)), el("td", {}, STATES[m.phase] ?? m.phase),
      el("td", {}, m.players.length), el("td", {}, m.started_at_ms ? new Date(m.started_at_ms).toLocaleString() : "")],
  });
}

function price(token) {
  const t = tokens[token];
  return t ? (t.price / 10 ** t.decimals).toPrecision(6) : "?";
}

function symbol(token) {
  return tokens[token]?.symbol ?? short(token);
}

function drawTerms() {
  const t = contest.terms;
  $("contest-id").textContent = contest.contest.slice(-10);
  $("state").textContent = STATES[contest.state] ?? contest.state;
  $("state").dataset.state = contest.state;
  const prizes = t.prizes_bps.map((bps, i) => `#${i + 1} ${bps / 100}%`).join(", ");
  $("terms").textContent = `Entry ${t.entry_fee} tokens · ${contest.players} of ${t.max_players} players (at least ${t.min_players}) · `
    + `prizes ${prizes} of the pool after a ${t.rake_bps / 100}% rake · ${new Date(t.starts_at_ms).toLocaleString()} to ${new Date(t.ends_at_ms).toLocaleString()}`;
  $("portfolio-size").textContent = String(t.portfolio_size);
  $("fee").textContent = `${t.entry_fee} tokens`;
  $("join-form").hidden = contest.state !== "registration";
  tickTimes();
}

function drawPortfolioForm() {
  const rows = contest.terms.tokens.map((token) =>
    el("tr", { "data-token": token },
      el("td", {}, el("input", { type: "checkbox", class: "pick", "aria-label": `include ${symbol(token)}`, onchange: sumWeights })),
      el("td", { title: token }, symbol(token)),
      el("td", { class: "dim" }, price(token)),
      el("td", {}, el("input", { type: "number", class: "weight", min: 0, max: FULL_WEIGHT, step: 1, value: 0,
        "aria-label": `weight of ${symbol(token)} in basis points`, oninput: (ev) => {
          ev.target.closest("tr").querySelector(".pick").checked = Number(ev.target.value) > 0;
          sumWeights();
        } }))));
  fillList($("portfolio"), rows, "This contest lists no tokens.", 4);
  sumWeights();
}

/** The portfolio as the form holds it: [{token, weight_bps}] of the picked rows. */
function portfolio() {
  return [...$("portfolio").querySelectorAll("tr[data-token]")]
    .filter((row) => row.querySelector(".pick").checked)
    .map((row) => ({ token: row.dataset.token, weight_bps: Number(row.querySelector(".weight").value) }));
}

function sumWeights() {
  const sum = portfolio().reduce((n, p) => n + p.weight_bps, 0);
  $("weight-sum").textContent = String(sum);
  $("weight-sum").dataset.sum = String(sum);
  $("weight-sum").dataset.ok = String(sum === FULL_WEIGHT);
}

/** Why the portfolio cannot be sent as it is (null: it can); the server checks again. */
function portfolioProblem(picked) {
  const t = contest.terms;
  if (!picked.length) return "Pick at least one token.";
  if (picked.length > t.portfolio_size) return `At most ${t.portfolio_size} tokens in this contest (you picked ${picked.length}).`;
  const bad = picked.find((p) => !Number.isInteger(p.weight_bps) || p.weight_bps <= 0);
  if (bad) return `The weight of ${symbol(bad.token)} must be a whole number above 0.`;
  if (t.min_weight_bps && picked.some((p) => p.weight_bps < t.min_weight_bps)) return `Each weight must be at least ${t.min_weight_bps} bps.`;
  if (t.max_weight_bps && picked.some((p) => p.weight_bps > t.max_weight_bps)) return `Each weight must be at most ${t.max_weight_bps} bps.`;
  const sum = picked.reduce((n, p) => n + p.weight_bps, 0);
  if (sum !== FULL_WEIGHT) return `The weights add up to ${sum} bps; they must add up to exactly 10,000.`;
  return null;
}

/** A refused join in words; the server's own text says which rule (whitelist, size, weights, room). */
function joinRefused(err) {
  if (err?.code === "bad_request" && err.serverMessage) return `The server refused this portfolio: ${err.serverMessage}.`;
  if (err?.code === "duplicate") return "You are in this contest already.";
  return explain(err);
}

function drawRankings(body) {
  if (body.contest !== current) return;
  $("rankings-state").dataset.stale = String(Boolean(body.stale));
  $("rankings-state").textContent = body.stale
    ? "· prices are STALE: shown as last known, the contest waits for fresh ones"
    : `· live, ${new Date(body.at_ms).toLocaleTimeString()}`;
  // A push carries the best few and your own row (contest.rankings pages the rest).
  if (body.total > (body.rankings ?? []).length) $("rankings-state").textContent += ` · ${body.total} players`;
  fillList($("rankings"), (body.rankings ?? []).map((r) =>
    el("tr", { "data-wallet": r.wallet, class: r.wallet === client?.wallet ? "me" : "" },
      el("td", {}, r.rank), el("td", { title: r.wallet }, r.wallet === client?.wallet ? "you" : short(r.wallet)),
      el("td", { class: "score" }, `${(r.score_bps / 100).toFixed(2)}%`))),
  "Rankings start when the contest does.", 3);
}

function drawResult(view) {
  const ended = view.result ?? view;
  $("result").hidden = false;
  if (view.state === "cancelled" || view.reason) {
    $("result-text").textContent = `Cancelled (${view.reason}): every entry fee is refunded.`;
    $("prizes").replaceChildren();
    return;
  }
  $("result-text").textContent = `Pool ${ended.pool ?? "?"} tokens, rake ${ended.rake}.`;
  fillList($("prizes"), ended.prizes.map((p) =>
    el("li", { "data-wallet": p.wallet }, `${p.wallet === client?.wallet ? "you" : short(p.wallet)}: ${p.amount} tokens`)),
  "no prizes");
}

function tickTimes() {
  if (!contest) return;
  const now = Date.now();
  const t = contest.terms;
  $("times").textContent = contest.state === "registration" ? `starts in ${clock(t.starts_at_ms - now)}`
    : contest.state === "active" ? `ends in ${clock(t.ends_at_ms - now)}` : `ended ${new Date(t.ends_at_ms).toLocaleString()}`;
}

async function reload() {
  if (!current) return;
  contest = await client.request("contest.get", { contest: current });
  drawTerms();
  if (contest.state === "settled" || contest.state === "cancelled") drawResult(contest);
  // contest.get has no stale flag: its rankings fill the table only until the first push (or once final)
  const final = contest.state === "settled" || contest.state === "cancelled";
  if (contest.rankings && (final || pushed !== current)) {
    drawRankings({ contest: current, at_ms: Date.now(), stale: false, rankings: contest.rankings });
  }
}

async function show(id) {
  current = id;
  location.hash = id;
  $("detail").hidden = false;
  $("result").hidden = true;
  $("join-error").textContent = "";
  $("joined").textContent = "";
  try {
    tokens = Object.fromEntries((await client.request("contest.tokens", {})).tokens.map((t) => [t.token, t]));
    await reload();
    drawPortfolioForm();
    await client.watchContest(id);
  } catch (err) {
    toast(explain(err));
  }
  refreshList();
}

$("join-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!current) return;
  const picked = portfolio();
  const problem = portfolioProblem(picked);
  $("join-error").textContent = problem ?? "";
  if (problem) return;
  $("join-button").disabled = true;
  try {
    const { status } = await client.joinContest(current, picked);
    $("joined").textContent = `Joined (${status}) with ${picked.map((p) => `${symbol(p.token)} ${p.weight_bps / 100}%`).join(", ")}.`;
    await reload();
  } catch (err) {
    $("join-error").textContent = joinRefused(err);
  } finally {
    $("join-button").disabled = false;
  }
});

// Arrived by a referral link (/r/<code> sends here with ?ref=<code>): register
// the code once, before this wallet's first contest (the server refuses it after).
async function useReferral(c) {
  const code = new URLSearchParams(location.search).get("ref");
  if (!code || sessionStorage.getItem("arena-ref-used") === code) return;
  sessionStorage.setItem("arena-ref-used", code);
  try {
    await c.request("referral.register", { code });
    toast(`Referral code ${code} registered: your referrer earns a share of the rake you pay.`);
  } catch (err) {
    if (err?.code !== "duplicate" && err?.code !== "wrong_state") toast(`Referral code not used: ${explain(err)}`);
  }
}

function listen(c) {
  c.on("contest:rankings", (b) => {
    if (b.contest === current) pushed = current;
    drawRankings(b);
  });
  const mine = (body) => body.contest === current;
  c.on("contest:started", (b) => mine(b) && reload());
  c.on("contest:ended", (b) => {
    if (!mine(b)) return;
    drawRankings({ ...b, at_ms: Date.now(), stale: false });
    drawResult(b);
    reload();
  });
  c.on("contest:cancelled", (b) => {
    if (!mine(b)) return;
    drawResult({ state: "cancelled", reason: b.reason });
    reload();
  });
  c.on("achievement:unlocked", (b) => b.wallet === c.wallet && toast(`Achievement unlocked: ${b.achievement}`));
  c.on("referral:reward", (b) => toast(`Referral reward: ${b.amount} tokens`));
}

setInterval(() => {
  // evaluation and settlement may come while the page looks elsewhere: look again until the contest is done
  if (contest && !["settled", "cancelled"].includes(contest.state)) reload().catch(() => {});
  refreshList();
}, 3000);
setInterval(tickTimes, 500);
setInterval(() => client && showBoard(client, "contest.wins", $("board-wins"), "no winners yet").catch(() => {}), 15_000);

await start({
  clientName: "arena-web-contest",
  ready: async (c) => {
    if (!client) listen(c);
    client = c;
    await useReferral(c);
    await refreshList();
    const wanted = location.hash.slice(1);
    if (current || wanted) await show(current ?? wanted);
  },
});
