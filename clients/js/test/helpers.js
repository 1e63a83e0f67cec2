// Shared steps of the battle tests.
import assert from "node:assert/strict";
import { connect, ArenaError } from "../src/index.js";

export const GOOD = (p) => `Your ${p} energy is so weak even your echo gives up halfway, and your mirror files for divorce!`;
export const BLANK = "   ";
export const T = 15_000; // event timeout, ms

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A connected, logged-in client with faucet money. */
export async function player(url, options = {}) {
  const c = await connect(url, options);
  await c.hello();
  await c.login();
  assert.equal(await c.faucet(), 10_000);
  return c;
}

/** Queue a and b (in that order) and pay both entry fees; the match id. */
export async function startBattle(a, b, tier = "bronze", beforePay = async () => {}) {
  assert.deepEqual(await a.queue(tier), { queued: true });
  assert.deepEqual(await b.queue(tier), { queued: true });
  const found = (await a.nextEvent("match.found", { timeout: T })).body;
  const foundB = (await b.nextEvent("match.found", { match: found.match, timeout: T })).body;
  assert.deepEqual(found.players, [a.wallet, b.wallet]);
  assert.equal(found.opponent, b.wallet);
  assert.equal(foundB.opponent, a.wallet);
  await beforePay(found);
  assert.equal(await a.payEntry(found.match), "confirmed");
  assert.equal(await b.payEntry(found.match), "confirmed");
  return found;
}

/**
 * Submit once the round's recording window opens: round_start comes before
 * its countdown, so a submit during the countdown is wrong_state; retry.
 */
export async function submitWhenOpen(c, match, round, text) {
  const deadline = Date.now() + T;
  for (;;) {
    try {
      return await c.submit(match, round, text);
    } catch (err) {
      if (!(err instanceof ArenaError) || err.code !== "wrong_state" || Date.now() > deadline) throw err;
      await sleep(30);
    }
  }
}

/** Retry `fn` until `ok(result)` (reads may trail the event by the store's write, milliseconds). */
export async function eventually(fn, ok, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await fn();
    if (ok(result) || Date.now() > deadline) return result;
    await sleep(50);
  }
}
