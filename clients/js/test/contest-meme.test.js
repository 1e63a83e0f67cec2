// The trading contest and meme round helpers (watchContest, joinContest;
// deposit, viewStart, viewBeat, viewStop, listContent, unlistContent,
// buyContent) against a real server (simulated prices and chain).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { crc32, deflateSync } from "node:zlib";
import { ArenaError, connect } from "../src/index.js";
import { startServer } from "./server.js";
import { eventually, player, T } from "./helpers.js";

let server;
before(async () => {
  server = await startServer({
    extra: "[meme]\nsimulated_block_ms = 500\nblocks_per_round = 20\nblock_poll_ms = 200\nrate_per_s = 1\n",
  });
});
after(async () => {
  await server?.stop();
});

async function operator(name) {
  const c = await connect(server.url, { reconnect: false });
  await c.loginKey(server.createKey("operator", name));
  return c;
}

/** A 96 × 96 RGB PNG with a gradient (a picture the embedded review accepts). */
function png(size = 96) {
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, "ascii");
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = [];
  for (let y = 0; y < size; y++) {
    rows.push(0); // no filter
    for (let x = 0; x < size; x++) rows.push((x * 2) % 256, (y * 2) % 256, (x + y) % 256);
  }
  return new Uint8Array(Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.from(rows))), chunk("IEND", Buffer.alloc(0))]));
}

describe("trading contests", () => {
  test("joinContest pays the fee with a portfolio; a bad one is a typed error; watchContest pushes rankings", async () => {
    const op = await operator("js-contest");
    const a = await player(server.url);
    try {
      const tokens = (await a.request("contest.tokens", {})).tokens.map((t) => t.token);
      const now = Date.now();
      const { contest } = await op.request("contest.create", {
        entry_fee: 100, starts_at_ms: now + 600_000, ends_at_ms: now + 1_200_000, min_players: 2, max_players: 10,
        prizes_bps: [10_000], rake_bps: 1_000, tokens: tokens.slice(0, 3), portfolio_size: 2,
      });
      const bad = await a.joinContest(contest, [{ token: tokens[0], weight_bps: 5_000 }]).catch((e) => e);
      assert.ok(bad instanceof ArenaError);
      assert.equal(bad.code, "bad_request");
      const outside = await a.joinContest(contest, [{ token: tokens[4], weight_bps: 10_000 }]).catch((e) => e);
      assert.equal(outside.code, "bad_request");
      assert.equal(await a.balance(), 10_000);
      const joined = await a.joinContest(contest, [{ token: tokens[0], weight_bps: 6_000 }, { token: tokens[1], weight_bps: 4_000 }]);
      assert.deepEqual(joined, { status: "confirmed", amount: 100 });
      assert.equal(await a.balance(), 9_900);
      assert.deepEqual(await a.watchContest(contest), {});
      const ev = await a.nextEvent("contest:rankings", { timeout: T });
      assert.equal(ev.body.contest, contest);
      assert.equal(typeof ev.body.stale, "boolean");
      const view = await a.request("contest.get", { contest });
      assert.equal(view.players, 1);
    } finally {
      op.close();
      a.close();
    }
  });
});

describe("meme rounds", () => {
  test("deposit, watch (charged by the second), stop, and a trade through list and buyContent", async () => {
    const viewer = await player(server.url);
    const owner = await player(server.url);
    const op = await operator("js-meme");
    try {
      await viewer.request("meme.round", {}).catch(() => {}); // opens the hall; rounds start at the next height
      const { content } = await op.request("content.upload", { title: "a cat on a keyboard", media: png(),
        media_type: "image/png", owner: owner.wallet });
      await eventually(async () => (await viewer.request("meme.round", {}).catch(() => ({ content: [] }))).content,
        (ids) => ids.includes(content), 30_000);
      const err = await viewer.viewStart(content).catch((e) => e);
      assert.equal(err.code, "insufficient_funds"); // nothing deposited yet
      const dep = await viewer.deposit(30);
      assert.deepEqual({ status: dep.status, balance: dep.balance, amount: dep.amount }, { status: "confirmed", balance: 30, amount: 30 });
      const started = await viewer.viewStart(content);
      assert.deepEqual(started, { rate_per_s: 1, balance: 30 });
      await viewer.viewBeat(content);
      const charged = await viewer.nextEvent("view:charged", { timeout: T });
      assert.equal(charged.body.content, content);
      assert.ok(charged.body.seconds >= 1 && charged.body.balance === 30 - charged.body.amount);
      const stopped = await viewer.viewStop();
      assert.ok(stopped.seconds >= 1 && stopped.charged === stopped.seconds);

      await assert.rejects(viewer.listContent(content, 50), ArenaError); // not the owner
      assert.deepEqual(await owner.listContent(content, 50), {});
      assert.deepEqual(await owner.unlistContent(content), {});
      await assert.rejects(viewer.buyContent(content), ArenaError); // not for sale any more
      await owner.listContent(content, 50);
      const before = await viewer.balance();
      const bought = await viewer.buyContent(content);
      assert.deepEqual(bought, { status: "confirmed", amount: 50, fee: 1 });
      assert.equal(await viewer.balance(), before - 50);
      await eventually(() => viewer.request("content.get", { content }), (c) => c.owner === viewer.wallet);
    } finally {
      viewer.close();
      owner.close();
      op.close();
    }
  });
});
