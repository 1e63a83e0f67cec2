// The duel workload as a Colyseus 0.16 room: the other server of
// `python -m arena bench duel --against colyseus` (bench/README.md).
//
// The same shape as Arena's duel: 2 clients per room, a 20 Hz simulation
// that changes the room's state every tick (so every client gets a state
// patch per tick), and "reaction" messages that are checked, counted in
// the state and broadcast to both players as "reaction:sent" with the
// sender and the count (Arena's `reaction.send` -> `reaction:sent`).
// Nothing here is tuned beyond what a Colyseus user would write; it runs
// with NODE_ENV=production, as a deployment would.
//
// Usage: node server.js PORT
// GET /metrics (Prometheus text) gives what the bench reads: simulation
// ticks, rooms, clients, messages handled, the event loop's delay, the
// process's CPU and RSS.

"use strict";

const http = require("http");
const { monitorEventLoopDelay } = require("perf_hooks");
const { Server, Room } = require("@colyseus/core");
const { WebSocketTransport } = require("@colyseus/ws-transport");
const { Schema, MapSchema, defineTypes } = require("@colyseus/schema");

const TICK_MS = 50;
const MAX_EMOJI = 16;

let ticks = 0; // simulation ticks run, summed over rooms
let reactions = 0; // reaction messages handled
let refused = 0; // reaction messages refused (bad input)
const liveRooms = new Set();

class DuelState extends Schema {
  constructor() {
    super();
    this.tick = 0;
    this.reactions = new MapSchema();
  }
}
defineTypes(DuelState, { tick: "uint32", reactions: { map: "uint32" } });

class DuelRoom extends Room {
  onCreate() {
    liveRooms.add(this);
    this.maxClients = 2;
    this.setState(new DuelState());
    this.setPatchRate(TICK_MS);
    this.setSimulationInterval(() => {
      this.state.tick++;
      ticks++;
    }, TICK_MS);
    this.onMessage("reaction", (client, msg) => {
      const emoji = msg && msg.emoji;
      if (typeof emoji !== "string" || emoji.length < 1 || emoji.length > MAX_EMOJI) {
        refused++;
        client.send("error", { code: "bad_request" });
        return;
      }
      reactions++;
      const count = (this.state.reactions.get(emoji) || 0) + 1;
      this.state.reactions.set(emoji, count);
      this.broadcast("reaction:sent", { emoji, senderId: client.sessionId, count });
    });
  }

  onDispose() {
    liveRooms.delete(this);
  }

  onJoin() {
    if (this.clients.length === this.maxClients) {
      this.broadcast("start", { room: this.roomId });
    }
  }
}

const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();

function metrics() {
  const cpu = process.cpuUsage();
  let rooms = 0;
  let clients = 0;
  for (const room of liveRooms) {
    rooms++;
    clients += room.clients.length;
  }
  const lines = [
    `colyseus_ticks_total ${ticks}`,
    `colyseus_tick_hz ${1000 / TICK_MS}`,
    `colyseus_rooms ${rooms}`,
    `colyseus_clients ${clients}`,
    `colyseus_reactions_total ${reactions}`,
    `colyseus_refused_total ${refused}`,
    `colyseus_loop_delay_p99_seconds ${loopDelay.percentile(99) / 1e9}`,
    `colyseus_loop_delay_max_seconds ${loopDelay.max / 1e9}`,
    `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
    `process_resident_memory_bytes ${process.memoryUsage().rss}`,
  ];
  loopDelay.reset(); // each scrape reads the delay since the previous one
  return lines.join("\n") + "\n";
}


const port = Number(process.argv[2] || 2567);
const httpServer = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/metrics") {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(metrics());
    return;
  }
  res.writeHead(404);
  res.end();
});

const gameServer = new Server({ transport: new WebSocketTransport({ server: httpServer }), greet: false });
gameServer.define("duel", DuelRoom);

gameServer.listen(port, "127.0.0.1").then(() => {
  process.stdout.write(`colyseus duel server on 127.0.0.1:${port}\n`);
});
