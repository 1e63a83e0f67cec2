// The meme rounds page: the current round (meme.round) and its memes
// (content.get each), the viewing balance and deposits (the SDK's deposit:
// view.deposit.build -> sign -> view.deposit.confirm), watching one meme
// (viewStart, then viewBeat every 2 s, viewStop; view:charged once a
// second), the market (listContent / unlistContent by the owner,
// buyContent by anyone else) and the last round's rewards.

import { el, explain, fillList, short, showBoard, start, toast } from "/static/page.js";

const $ = (id) => document.getElementById(id);
// A beat well inside the server's beat_timeout_ms (5 s by default).
const BEAT_MS = 2000;
const STOPPED = {
  stopped: "you stopped", no_beat: "the page stopped beating", disconnected: "the connection dropped",
  no_balance: "your viewing balance ran out", round_ended: "the round ended",
};

let client = null;
let round = null; // the meme.round reply
let items = {}; // content id -> its content.get reply
let watching = null; // the content id being watched
let beat = null; // its beat timer

function setBalance(balance) {
  if (Number.isInteger(balance)) $("view-balance").textContent = String(balance);
}

function media(item) {
  // Only an http(s) URL can be shown here (the page's CSP); a local store's file URL is named instead.
  if (/^https?:\/\//.test(item.media_url ?? "")) {
    return item.media_type?.startsWith("video/")
      ? el("video", { src: item.media_url, controls: true, muted: true })
      : el("img", { src: item.media_url, alt: item.title });
  }
  return el("p", { class: "dim" }, `media: ${item.media_url}`);
}

function card(item) {
  const mine = item.owner === client?.wallet;
  const actions = el("div", { class: "actions" },
    el("button", { class: "watch", onclick: () => watch(item.content) }, watching === item.content ? "watching" : "Watch"));
  if (mine) {
    const price = el("input", { type: "number", min: 1, value: item.price ?? 100, class: "price", "aria-label": "asking price" });
    actions.append(price,
      el("button", { class: "list", onclick: () => list(item.content, Number(price.value)) }, item.price === null ? "List for sale" : "Change price"));
    if (item.price !== null) actions.append(el("button", { class: "unlist", onclick: () => unlist(item.content) }, "Unlist"));
  } else if (item.price !== null) {
    actions.append(el("button", { class: "buy", onclick: () => buy(item.content) }, `Buy for ${item.price}`));
  }
  return el("li", { "data-content": item.content, "data-owner": item.owner ?? "", "data-price": item.price ?? "",
    class: watching === item.content ? "watching" : "" },
  media(item),
  el("strong", {}, item.title),
  el("div", { class: "dim" }, item.caption),
  el("div", { class: "tags dim" }, item.tags.map((t) => `#${t}`).join(" ")),
  el("div", {}, `quality ${item.quality} · owner ${mine ? "you" : short(item.owner)} · ${item.view_seconds} view-seconds`),
  el("div", { class: "sale" }, item.price === null ? "not for sale" : `for sale: ${item.price} tokens`),
  actions);
}

function drawRound() {
  if (!round?.round) {
    $("round-id").textContent = "none yet";
    $("heights").textContent = `waiting for the next block (height ${round?.height ?? "?"})`;
    fillList($("contents"), [], "No round is running: one starts at the next block.");
    return;
  }
  $("round-id").textContent = round.round.slice(-10);
  $("round-id").dataset.round = round.round;
  $("heights").textContent = `blocks ${round.start_height} to ${round.end_height} · now ${round.height}`;
  $("pool").textContent = String(round.pool);
  fillList($("contents"), round.content.filter((id) => items[id]).map((id) => card(items[id])),
    "No memes in this round: an operator uploads them (content.upload), and ready ones join the next round.");
}

function drawLast(last) {
  if (!last) return;
  $("last-round").textContent = `Round ${last.round.slice(-10)}: pool ${last.pool} tokens shared by view-seconds.`;
  $("last-round").dataset.round = last.round;
  fillList($("rewards"), last.rewards.map((r) =>
    el("li", { "data-wallet": r.wallet }, `${r.wallet === client?.wallet ? "you" : short(r.wallet)}: ${r.amount} tokens`)),
  "nobody was watched: nothing to share");
}

async function refresh() {
  if (!client) return;
  try {
    round = await client.request("meme.round", {});
  } catch (err) {
    if (err?.code !== "wrong_state") {
      fillList($("contents"), [], explain(err));
      return;
    }
    round = null; // no round yet: the first starts at the chain's next height
  }
  if (round?.last) drawLast(round.last);
  const ids = round?.content ?? [];
  const got = await Promise.all(ids.map((id) => client.request("content.get", { content: id }).catch(() => null)));
  items = Object.fromEntries(got.filter(Boolean).map((c) => [c.content, c]));
  drawRound();
}

function showWatching(text) {
  $("watching").textContent = text;
  $("watching").dataset.content = watching ?? "";
  $("stop-button").disabled = !watching;
}

function stopBeating() {
  clearInterval(beat);
  beat = null;
}

async function watch(content) {
  try {
    if (watching && watching !== content) await client.viewStop();
    stopBeating();
    const started = await client.viewStart(content);
    watching = content;
    setBalance(started.balance);
    $("rate").textContent = `${started.rate_per_s} per second watched`;
    $("charged").dataset.seconds = "0";
    $("charged").dataset.amount = "0";
    $("charged").textContent = "";
    showWatching(`Watching “${items[content]?.title ?? short(content)}”.`);
    beat = setInterval(() => {
      client.viewBeat(content).catch((err) => {
        stopBeating();
        toast(explain(err));
      });
    }, BEAT_MS);
  } catch (err) {
    watching = null;
    showWatching("Not watching.");
    toast(err?.code === "insufficient_funds" || err?.code === "wrong_state"
      ? `Cannot watch: ${err.serverMessage || explain(err)}. Deposit into your viewing balance first.` : explain(err));
  }
  drawRound();
}

$("stop-button").addEventListener("click", async () => {
  stopBeating();
  try {
    const done = await client.viewStop();
    toast(`Watched ${done.seconds} s, charged ${done.charged} tokens.`);
  } catch (err) {
    toast(explain(err));
  }
  watching = null;
  showWatching("Not watching.");
  drawRound();
});

$("deposit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const amount = Number($("deposit-amount").value);
  if (!Number.isInteger(amount) || amount <= 0) {
    toast("A deposit is a whole number of tokens above 0.");
    return;
  }
  $("deposit-button").disabled = true;
  try {
    const done = await client.deposit(amount);
    setBalance(done.balance);
    toast(`Deposited ${amount} (${done.status}).`);
  } catch (err) {
    toast(explain(err));
  } finally {
    $("deposit-button").disabled = false;
  }
});

async function list(content, price) {
  try {
    await client.listContent(content, price);
    toast(`Listed for ${price}.`);
  } catch (err) {
    toast(err?.code === "bad_request" && err.serverMessage ? err.serverMessage : explain(err));
  }
  await refresh();
}

async function unlist(content) {
  try {
    await client.unlistContent(content);
  } catch (err) {
    toast(explain(err));
  }
  await refresh();
}

async function buy(content) {
  try {
    const done = await client.buyContent(content);
    toast(`Bought for ${done.amount} (fee ${done.fee}): ${done.status}.`);
  } catch (err) {
    toast(explain(err));
  }
  await refresh();
}

function listen(c) {
  c.on("view:charged", (b) => {
    if (b.content !== watching) return;
    setBalance(b.balance);
    $("charged").dataset.seconds = String(b.seconds);
    $("charged").dataset.amount = String(b.amount);
    $("charged").textContent = `${b.seconds} s watched, ${b.amount} tokens charged`;
  });
  c.on("view:deposited", (b) => setBalance(b.balance));
  c.on("view:stopped", (b) => {
    if (b.content !== watching) return;
    const again = b.reason === "round_ended" ? b.content : null;
    stopBeating();
    watching = null;
    showWatching(`Stopped: ${STOPPED[b.reason] ?? b.reason}.`);
    // A meme stays in every round after its first: keep watching it in the next.
    if (again) setTimeout(() => refresh().then(() => round?.content?.includes(again) && watch(again)), 500);
  });
  c.on("round:start", () => refresh());
  c.on("round:ended", (b) => {
    drawLast(b);
    refresh();
  });
  const changed = () => refresh();
  c.on("market:listed", changed);
  c.on("market:traded", (b) => {
    if (b.to === c.wallet) toast(`You now own ${short(b.content)}.`);
    if (b.from === c.wallet) toast(`Sold ${short(b.content)} for ${b.price} (fee ${b.fee}).`);
    refresh();
  });
  c.on("ownership:changed", changed);
}

setInterval(() => refresh().catch(() => {}), 5000);
setInterval(() => client && showBoard(client, "meme.rewards", $("board-rewards"), "no rewards yet").catch(() => {}), 15_000);

await start({
  clientName: "arena-web-meme",
  ready: async (c) => {
    if (!client) listen(c);
    client = c;
    await refresh();
    // a resumed session keeps its view on the server only while beats came; start again if one was on
    if (watching) await watch(watching);
  },
});
