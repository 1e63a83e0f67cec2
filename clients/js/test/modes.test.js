// The weekly canvas and lottery helpers (canvasJoin, place, inflateBitmap,
// decodePixels; watchRound, bet) against a real server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { ArenaError, decodePixels, inflateBitmap } from "../src/index.js";
import { startServer } from "./server.js";
import { player, T } from "./helpers.js";

let server;
before(async () => {
  server = await startServer({ extra: "[canvas]\nwidth = 20\nheight = 10\ncooldown_ms = 60000\n" });
});
after(async () => {
  await server?.stop();
});

describe("canvas bytes (no server)", () => {
  test("placements decode in order; a length not a multiple of 5 is refused", () => {
    const bytes = new Uint8Array([0, 3, 0, 2, 5, 1, 0, 0, 255, 31]);
    assert.deepEqual(decodePixels(bytes), [{ x: 3, y: 2, color: 5 }, { x: 256, y: 255, color: 31 }]);
    assert.deepEqual(decodePixels(bytes.subarray(5)), [{ x: 256, y: 255, color: 31 }]);
    assert.throws(() => decodePixels(new Uint8Array(4)), /multiple of 5/);
  });

  test("a zlib bitmap inflates and its size is checked", async () => {
    const raw = Uint8Array.from({ length: 12 }, (_, i) => i % 4);
    assert.deepEqual(await inflateBitmap(deflateSync(raw), 4, 3), raw);
    await assert.rejects(inflateBitmap(deflateSync(raw), 5, 3), /expected 5 × 3/);
    await assert.rejects(inflateBitmap(new Uint8Array([1, 2, 3])));
  });
});

describe("canvas", () => {
  test("join, place, and the placement reaches another watcher; the cooldown is a typed error", async () => {
    const a = await player(server.url);
    const b = await player(server.url);
    try {
      const week = await a.canvasJoin();
      assert.equal(week.width, 20);
      assert.equal(week.pixels.length, 200);
      assert.ok(week.pixels.every((p) => p === 0));
      await b.canvasJoin();
      const next = await a.place(4, 3, 7);
      assert.ok(next > 0 && next <= 60_000);
      const ev = await b.nextEvent("canvas:pixels", { timeout: T });
      assert.deepEqual(decodePixels(ev.body.pixels), [{ x: 4, y: 3, color: 7 }]);
      const err = await a.place(5, 3, 7).catch((e) => e);
      assert.ok(err instanceof ArenaError);
      assert.equal(err.code, "cooldown_active");
      assert.ok(err.retryAfterMs > 0);
      const again = await b.canvasJoin();
      assert.equal(again.pixels[3 * 20 + 4], 7);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe("lottery", () => {
  test("a bet on, or a watch of, a round that does not exist is not_found", async () => {
    const a = await player(server.url);
    try {
      await assert.rejects(a.bet("lo-none", "yes", 10), (e) => e instanceof ArenaError && e.code === "not_found");
      await assert.rejects(a.watchRound("lo-none"), (e) => e instanceof ArenaError && e.code === "not_found");
    } finally {
      a.close();
    }
  });
});
