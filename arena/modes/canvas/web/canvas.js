// The weekly canvas page: the live canvas drawn on a <canvas> from the
// compressed bitmap of canvas.join and every canvas:pixels event after it;
// zoom and pan; a palette; placing a pixel, with the cooldown as a countdown;
// the week's game mode, objectives, leaderboards and past weeks.

import { decodePixels } from "/static/arena-client.js";
import { ArenaError, clock, el, explain, fillList, short, showBoard, start, toast } from "/static/page.js";

const $ = (id) => document.getElementById(id);
const board = $("board");
const ctx2d = board.getContext("2d");
const viewport = document.getElementById("viewport");
const paletteNode = document.getElementById("palette");
const cooldownNode = document.getElementById("cooldown");

const view = { zoom: 1, x: 0, y: 0 };
let week = null; // the canvas.join reply
let rgb = []; // palette as [r, g, b]
let color = 1;
let image = null; // ImageData of the whole canvas
let nextPlaceAt = 0; // performance.now() when the next placement is allowed
let client = null;

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function paint(x, y, index) {
  const c = rgb[index];
  if (!c || x >= week.width || y >= week.height) return;
  const i = (y * week.width + x) * 4;
  image.data[i] = c[0];
  image.data[i + 1] = c[1];
  image.data[i + 2] = c[2];
  image.data[i + 3] = 255;
}

let dirty = false;
function redraw() {
  if (dirty) return;
  dirty = true;
  requestAnimationFrame(() => {
    dirty = false;
    ctx2d.putImageData(image, 0, 0);
  });
}

function applyView() {
  board.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.zoom})`;
  document.getElementById("zoom").textContent = `${view.zoom < 1 ? view.zoom.toFixed(2) : Math.round(view.zoom)}×`;
}

function fit() {
  const r = viewport.getBoundingClientRect();
  view.zoom = Math.max(0.1, Math.min(r.width / week.width, r.height / week.height));
  view.x = (r.width - week.width * view.zoom) / 2;
  view.y = (r.height - week.height * view.zoom) / 2;
  applyView();
}

function zoomAt(factor, px, py) {
  const z = Math.min(64, Math.max(0.1, view.zoom * factor));
  view.x = px - ((px - view.x) * z) / view.zoom;
  view.y = py - ((py - view.y) * z) / view.zoom;
  view.zoom = z;
  applyView();
}

/** The canvas cell under a pointer event, or null outside the canvas. */
function cellAt(ev) {
  const r = board.getBoundingClientRect();
  const x = Math.floor(((ev.clientX - r.left) / r.width) * week.width);
  const y = Math.floor(((ev.clientY - r.top) / r.height) * week.height);
  return x >= 0 && y >= 0 && x < week.width && y < week.height ? { x, y } : null;
}

function drawPalette() {
  paletteNode.replaceChildren(
    ...week.palette.map((hex, i) =>
      el("button", {
        role: "radio", "aria-checked": String(i === color), title: `${i}: ${hex}`, "data-color": i,
        style: `background:${hex}`, onclick: () => { color = i; drawPalette(); },
      })),
  );
}

function tickCooldown() {
  const left = nextPlaceAt - performance.now();
  cooldownNode.dataset.ready = String(left <= 0);
  cooldownNode.textContent = left <= 0 ? "ready: click the canvas to place a pixel" : `next pixel in ${clock(left)}`;
  const resets = document.getElementById("resets");
  if (week) resets.textContent = `resets in ${clock(week.resets_at_ms - Date.now())} (${new Date(week.resets_at_ms).toLocaleString()})`;
}

async function place(cell) {
  if (!client || !week) return;
  if (nextPlaceAt > performance.now()) {
    toast(`Cooldown: next pixel in ${clock(nextPlaceAt - performance.now())}`);
    return;
  }
  const before = image.data.slice((cell.y * week.width + cell.x) * 4, (cell.y * week.width + cell.x) * 4 + 4);
  paint(cell.x, cell.y, color); // shown at once; the server's canvas:pixels confirms it
  redraw();
  try {
    const next = await client.place(cell.x, cell.y, color);
    nextPlaceAt = performance.now() + next;
    document.getElementById("hover").textContent = `placed (${cell.x}, ${cell.y}) in ${week.palette[color]}`;
  } catch (err) {
    image.data.set(before, (cell.y * week.width + cell.x) * 4);
    redraw();
    if (err instanceof ArenaError && err.code === "cooldown_active" && err.retryAfterMs) {
      nextPlaceAt = performance.now() + err.retryAfterMs;
    }
    if (err instanceof ArenaError && err.code === "wrong_state") await join();
    toast(explain(err));
  }
}

/** A request this server may not offer yet (unknown_type, not_found): null then. */
async function optional(type, body) {
  try {
    return await client.request(type, body);
  } catch (err) {
    if (err instanceof ArenaError) return null;
    throw err;
  }
}

async function loadSide() {
  const objectives = await optional("canvas.objectives", {});
  fillList($("objectives"), (objectives?.objectives ?? []).map((o) =>
    el("li", { class: o.done ? "ok" : "" }, `${o.title}: ${o.progress} / ${o.target}${o.done ? " ✓" : ""}`)), "none this week");
  await showBoard(client, "canvas.pixels", $("board-pixels"), "no pixels placed yet");
  await showBoard(client, "canvas.agents", $("board-agents"), "no agents yet");
  const archives = await optional("canvas.archives", { limit: 8 });
  fillList($("archives"), (archives?.archives ?? []).map((a) =>
    el("li", {},
      `${a.year} week ${a.week} (${a.mode})`,
      a.winner || a.winner_agent ? ` · winner ${a.winner_agent ?? short(a.winner)}` : "",
      el("br"),
      a.image_url ? el("a", { href: a.image_url, target: "_blank" }, el("img", { src: a.image_url, alt: `canvas of ${a.year} week ${a.week}`, loading: "lazy" })) : "",
      a.video_url ? el("a", { href: a.video_url, target: "_blank" }, "timelapse") : "")), "no past weeks yet");
}

async function join() {
  const first = week === null;
  week = await client.canvasJoin();
  rgb = week.palette.map(hexToRgb);
  color = Math.min(color, week.palette.length - 1);
  board.width = week.width;
  board.height = week.height;
  image = ctx2d.createImageData(week.width, week.height);
  for (let i = 0; i < week.pixels.length; i++) paint(i % week.width, Math.floor(i / week.width), week.pixels[i]);
  ctx2d.putImageData(image, 0, 0);
  nextPlaceAt = performance.now() + week.next_place_ms;
  document.getElementById("week").textContent = `${week.canvas} · ${week.width} × ${week.height}`;
  document.getElementById("mode").textContent =
    `Game mode “${week.mode}”: ${week.palette.length} colours, one pixel every ${clock(week.cooldown_ms)}`;
  board.dataset.canvas = week.canvas;
  drawPalette();
  if (first) fit();
  loadSide().catch(() => {});
}

// --- pointer: click places, drag pans, wheel zooms -------------------------------------
let drag = null;
viewport.addEventListener("pointerdown", (ev) => {
  drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y, moved: false };
  viewport.setPointerCapture(ev.pointerId);
});
viewport.addEventListener("pointermove", (ev) => {
  if (week) {
    const cell = cellAt(ev);
    if (cell && !drag) document.getElementById("hover").textContent = `(${cell.x}, ${cell.y})`;
  }
  if (!drag) return;
  const dx = ev.clientX - drag.x;
  const dy = ev.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 4) drag.moved = true;
  if (drag.moved) {
    view.x = drag.vx + dx;
    view.y = drag.vy + dy;
    applyView();
  }
});
viewport.addEventListener("pointerup", (ev) => {
  const wasDrag = drag?.moved;
  drag = null;
  if (wasDrag || !week) return;
  const cell = cellAt(ev);
  if (cell) place(cell);
});
viewport.addEventListener("wheel", (ev) => {
  ev.preventDefault();
  const r = viewport.getBoundingClientRect();
  zoomAt(ev.deltaY < 0 ? 1.25 : 0.8, ev.clientX - r.left, ev.clientY - r.top);
}, { passive: false });
document.getElementById("zoom-in").onclick = () => zoomAt(2, viewport.clientWidth / 2, viewport.clientHeight / 2);
document.getElementById("zoom-out").onclick = () => zoomAt(0.5, viewport.clientWidth / 2, viewport.clientHeight / 2);
document.getElementById("zoom-fit").onclick = () => week && fit();

setInterval(tickCooldown, 250);
setInterval(() => client && week && loadSide().catch(() => {}), 15_000);

function listen(c) {
  c.on("canvas:pixels", (body) => {
    if (!week || body.canvas !== week.canvas) return;
    for (const p of decodePixels(body.pixels)) paint(p.x, p.y, p.color);
    redraw();
  });
  c.on("week_reset", (body) => {
    toast(`The week is over: next game mode “${body.next_mode}”`);
    week = null;
    join().catch((err) => toast(explain(err)));
  });
  // After a resume that could not replay everything, or a return from away
  // (PROTOCOL.md "Watchers away and resumed sessions"): fetch the canvas again.
  c.on("match.snapshot", (body) => {
    if (body.match === "canvas") join().catch((err) => toast(explain(err)));
  });
  c.on("mode_changed", (body) => toast(`Game mode: ${body.mode}`));
  c.on("objective:completed", () => loadSide().catch(() => {}));
}

await start({
  clientName: "arena-web-canvas",
  // after every (re)login: listeners once, then (re)join the canvas
  ready: async (c) => {
    if (!client) listen(c);
    client = c;
    await join();
  },
});
