// What every Arena page shares: the header (links to the other pages, the
// connection's state, the wallet and its balance), the connection itself
// (the SDK, a development wallet kept in this browser, automatic resume) and
// error messages a person understands. Pages import it as an ES module; the
// SDK beside it is the bundled `@arena/client` (clients/js).

import { ArenaError, connect, devKeypair } from "./arena-client.js";

export { ArenaError };

/** The protocol's address on the server that served this page. */
export const WS_URL = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1`;

/** A DOM element: el("td", {class: "x", onclick: fn}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the pages' CSP, a style attribute is not
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** A wallet address, short: "7xKX…9fQe". */
export function short(wallet) {
  return wallet && wallet.length > 10 ? `${wallet.slice(0, 4)}…${wallet.slice(-4)}` : wallet ?? "nobody";
}

/** Milliseconds as "1:05", "2:03:04" or "3d 4h" (or "0:00" when past). */
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const pad = (n) => String(n).padStart(2, "0");
  if (s >= 86_400) return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  return `${Math.floor(s / 60)}:${pad(s % 60)}`;
}

// What each stable error code means to a player (PROTOCOL.md "Envelope").
const EXPLAINED = {
  insufficient_funds: "Not enough tokens in your wallet. Use “Get play money” (development servers only).",
  cooldown_active: "You must wait before doing that again.",
  rate_limited: "Too many requests: slow down a little.",
  wrong_state: "That is not possible at this stage.",
  not_found: "It no longer exists (it may have ended).",
  not_allowed: "This server does not allow that.",
  unauthenticated: "You are not logged in yet.",
  auth_failed: "Logging in failed.",
  duplicate: "That was already done.",
  payment_failed: "The payment did not go through.",
  overloaded: "The server is busy: try again in a moment.",
  bad_request: "The server did not accept that request.",
  unknown_type: "This server does not offer that.",
};

/** A sentence for a failed request (an ArenaError, a closed socket, anything). */
export function explain(err) {
  if (err instanceof ArenaError) {
    const wait = err.retryAfterMs ? ` (${clock(err.retryAfterMs)} left)` : "";
    return `${EXPLAINED[err.code] ?? err.message}${wait}`;
  }
  return `Connection problem: ${err?.message ?? err}`;
}

/** Fill a list (or table body) with `items`, or one row saying `empty`. */
export function fillList(node, items, empty, columns = 0) {
  const none = columns ? el("tr", {}, el("td", { colspan: columns, class: "empty" }, empty)) : el("li", { class: "empty" }, empty);
  node.replaceChildren(...(items.length ? items : [none]));
}

/**
 * A mode's matches (match.list) as rows of `tbody`: `cells(m)` then an
 * Open button calling `open(m.match)`; the row carries the id as
 * `data-<rowAttr>` and is marked while it is `current`. The matches, or
 * null when the server refused (its reason fills the table).
 */
export async function showMatches(client, mode, tbody, { rowAttr, current, cells, open, empty, columns }) {
  let matches;
  try {
    matches = await client.listMatches(mode, { limit: 50 });
  } catch (err) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: columns, class: "error" }, explain(err))));
    return null;
  }
  fillList(tbody, matches.map((m) =>
    el("tr", { [`data-${rowAttr}`]: m.match, class: m.match === current ? "current" : "" },
      ...cells(m),
      el("td", {}, el("button", { class: "open", onclick: () => open(m.match) }, m.match === current ? "shown" : "Open")))),
  empty, columns);
  return matches;
}

/** A leaderboard's top entries (this week) into an <ol>; a board the server lacks stays empty. */
export async function showBoard(client, board, node, empty, { period = "week", limit = 10 } = {}) {
  let top;
  try {
    top = await client.leaderboard(board, { period, limit });
  } catch (err) {
    if (err instanceof ArenaError) return fillList(node, [], empty);
    throw err;
  }
  fillList(node, top.entries.map((e) => el("li", { title: e.wallet }, `${e.username ?? short(e.wallet)}: ${e.score}`)), empty);
}

/** The pages the server lists (/pages.json). */
export async function loadPages() {
  const res = await fetch("/pages.json", { cache: "no-cache" });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return (await res.json()).pages;
}

/** Fill `node` with the navigation bar; returns its parts for `start` to update. */
export function header(node) {
  const nav = el("nav", {}, el("a", { href: "/" }, "Arena"));
  const status = el("span", { class: "status", id: "conn", "data-state": "connecting" }, "connecting…");
  const who = el("span", { class: "who", id: "who" });
  node.classList.add("bar");
  node.replaceChildren(nav, status, who);
  loadPages()
    .then((pages) => nav.append(...pages.map((p) => el("a", { href: p.path }, p.title))))
    .catch(() => {});
  return { status, who };
}

let toastTimer = null;
/** A short message at the bottom of the page. */
export function toast(text, ms = 4000) {
  let node = document.getElementById("toast");
  if (!node) {
    node = el("div", { id: "toast", class: "toast", role: "status" });
    document.body.append(node);
  }
  node.textContent = text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (node.textContent = ""), ms);
}

function setStatus(status, state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

/**
 * Connect, say hello and log in with this browser's development wallet; keep
 * the header's state and balance current. `ready(client)` runs after every
 * (re)login, so a page (re)joins what it shows there. The client is also
 * `window.arena.client` (for the browser tests and the console).
 */
export async function start({ clientName, ready }) {
  const { status, who } = header(document.getElementById("top"));
  const keypair = devKeypair(localStorage);
  const balance = el("span", { id: "balance" }, "…");
  const faucet = el("button", { id: "faucet", title: "play money from the server's development faucet" }, "Get play money");
  who.replaceChildren(el("span", { id: "wallet", title: keypair.address }, short(keypair.address)), " · ", balance, " tokens ", faucet);
  faucet.onclick = async () => {
    try {
      balance.textContent = String(await client.faucet());
    } catch (err) {
      toast(explain(err));
    }
  };
  window.arena = { client: null, keypair };

  let client = null;
  for (let attempt = 0; !client; attempt++) {
    try {
      client = await connect(WS_URL, { keypair, clientName });
    } catch (err) {
      setStatus(status, "closed", `cannot reach the server; retrying (${attempt + 1})`);
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** attempt)));
    }
  }
  window.arena.client = client;
  const login = async () => {
    await client.hello();
    await client.login();
    setStatus(status, "open", "connected");
    balance.textContent = String(await client.balance());
    await ready(client);
  };
  client.on("wallet:updated", (w) => (balance.textContent = String(w.balance)));
  client.onStatus((s) => {
    if (s.state === "reconnecting") setStatus(status, "reconnecting", "reconnecting…");
    else if (s.state === "resumed") setStatus(status, "open", "connected (resumed)");
    else if (s.state === "closed") {
      // the SDK has given up reconnecting: a click starts the page afresh
      setStatus(status, "closed", "disconnected: click to reconnect");
      status.onclick = () => location.reload();
    }
    else if (s.state === "session_lost") {
      setStatus(status, "reconnecting", "session expired: logging in again…");
      login().catch((err) => setStatus(status, "closed", `cannot log in: ${explain(err)}`));
    }
  });
  try {
    await login();
  } catch (err) {
    setStatus(status, "closed", `cannot log in: ${explain(err)}`);
    throw err;
  }
  return client;
}
