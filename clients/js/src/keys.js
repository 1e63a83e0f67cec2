// Wallet keys: ed25519 keypairs whose public key, in base58, is the wallet
// address (a Solana address). Signing is synchronous via @noble/ed25519 with
// the sha512 of @noble/hashes (pure JS: the same code in browsers and Node).

import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { base58 } from "@scure/base";

ed.hashes.sha512 = sha512;

export class Keypair {
  /** @param {Uint8Array} secretKey the 32-byte ed25519 seed */
  constructor(secretKey) {
    if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
      throw new TypeError("secretKey must be a 32-byte Uint8Array (the ed25519 seed)");
    }
    this.secretKey = secretKey;
    this.publicKey = ed.getPublicKey(secretKey);
    /** The wallet address: base58 of the public key. */
    this.address = base58.encode(this.publicKey);
  }

  /** A fresh random keypair (crypto.getRandomValues). */
  static generate() {
    return new Keypair(ed.utils.randomSecretKey());
  }

  /**
   * From a Solana CLI keypair (a 64-byte array: seed then public key, e.g.
   * the JSON of `solana-keygen`) or a 32-byte seed.
   */
  static fromBytes(bytes) {
    const b = Uint8Array.from(bytes);
    if (b.length === 64) {
      const kp = new Keypair(b.slice(0, 32));
      if (base58.encode(b.slice(32)) !== kp.address) throw new Error("64-byte keypair: public half does not match the seed");
      return kp;
    }
    return new Keypair(b);
  }

  /** The 64 bytes Solana tools store (seed + public key). */
  toBytes() {
    const out = new Uint8Array(64);
    out.set(this.secretKey, 0);
    out.set(this.publicKey, 32);
    return out;
  }

  /** The 64-byte ed25519 signature of `message` (bytes, or a string as UTF-8). */
  sign(message) {
    const bytes = typeof message === "string" ? new TextEncoder().encode(message) : message;
    return ed.sign(bytes, this.secretKey);
  }
}

/** Verify an ed25519 signature by a wallet address (base58). */
export function verify(signature, message, address) {
  const bytes = typeof message === "string" ? new TextEncoder().encode(message) : message;
  return ed.verify(signature, bytes, base58.decode(address));
}

/**
 * A development keypair kept across page loads: read from `storage` (e.g.
 * window.localStorage) under `key`, or generated and stored there. Play money
 * only: a key in localStorage is readable by any script on the page.
 */
export function devKeypair(storage, key = "arena:dev-keypair") {
  const saved = storage?.getItem?.(key);
  if (saved) {
    try {
      return Keypair.fromBytes(base58.decode(saved));
    } catch {
      // unreadable: make a new one below
    }
  }
  const kp = Keypair.generate();
  storage?.setItem?.(key, base58.encode(kp.toBytes()));
  return kp;
}

export { base58 };
