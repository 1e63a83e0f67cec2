// Run by browser-api.test.js under `node --experimental-websocket`; prints one JSON line.
import { connect, ArenaError } from "../src/index.js";

const url = process.argv[2];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
if (typeof globalThis.WebSocket !== "function") throw new Error("no global WebSocket");

const a = await connect(url, { reconnect: { delayMs: 300 } });
await a.login();
await a.faucet();
const balance = await a.balance();
const batch = (await a.batch([["ping", {}], ["queue.join", { mode: "roast" }]])).map((r) => (r instanceof ArenaError ? r.code : "ok"));
const usedWs = a._link.ws.constructor !== globalThis.WebSocket;

const statuses = [];
let replayed = 0;
a.onStatus((s) => {
  statuses.push(s.state);
  if (s.state === "resumed") replayed = s.replayed;
});
const b = await connect(url, { reconnect: false });
await b.login();
await b.faucet();
await a.queue("bronze");
await b.queue("bronze");
const { match } = (await a.nextEvent("match.found", { timeout: 10_000 })).body;
a.drop(); // close(4100): the server echoes it and keeps the session
// While a is away, b pays its entry fee: a misses the entry.confirmed.
await b.payEntry(match);
const missed = (await a.nextEvent("entry.confirmed", { match, timeout: 10_000 })).type;
while (!statuses.includes("resumed")) await sleep(20);
console.log(JSON.stringify({ usedWs, balance, batch, statuses, replayed, missed, gaps: a.seqGaps }));
a.close();
b.close();
