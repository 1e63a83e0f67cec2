// Framing for the Arena wire protocol v1 (docs/PROTOCOL.md "Envelope").
//
// Every frame is one MessagePack value: an envelope [kind, n, type, body] or a
// batch (an array of envelopes). Binary fields travel as MessagePack bin and
// come back as Uint8Array.

import { Encoder, Decoder } from "@msgpack/msgpack";

export const PROTOCOL_VERSION = 1;
export const REQUEST = 0;
export const REPLY = 1;
export const EVENT = 2;
/** The server's batch limit (PROTOCOL.md implementation notes). */
export const MAX_BATCH = 64;
export const UINT32_MAX = 0xffffffff;

// ignoreUndefined: optional fields left `undefined` are omitted from the map,
// so the server applies its defaults (it treats nil as ill-typed).
const encoder = new Encoder({ ignoreUndefined: true });
// The protocol has no extension types; the decoder's defaults are fine.
const decoder = new Decoder();

/** The frame bytes of one request envelope [0, rid, type, body]. */
export function encodeRequest(rid, type, body) {
  return encoder.encode([REQUEST, rid, type, body ?? {}]);
}

/** The frame bytes of a batch of request envelopes. `items`: [[rid, type, body], ...]. */
export function encodeBatch(items) {
  return encoder.encode(items.map(([rid, type, body]) => [REQUEST, rid, type, body ?? {}]));
}

/** Encode any value (used for tests and raw frames). */
export function encodeValue(value) {
  return encoder.encode(value);
}

/**
 * The envelopes of one frame: [env] for a single envelope, the array for a
 * batch (a batch's first element is an array, never an integer).
 * Throws when `data` is not exactly one MessagePack value.
 */
export function decodeFrame(data) {
  const value = decoder.decode(data);
  if (Array.isArray(value) && (value.length === 0 || Array.isArray(value[0]))) return value;
  return [value];
}
