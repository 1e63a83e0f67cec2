// @arena/client: the Arena wire protocol v1 SDK (docs/PROTOCOL.md).
export { ArenaClient, connect } from "./client.js";
export { ArenaError, ArenaClosedError, ArenaTimeoutError, ArenaProtocolError } from "./errors.js";
export { Keypair, verify, devKeypair, base58 } from "./keys.js";
export { inflateBitmap, decodePixels } from "./canvas.js";
export { buildSiwsMessage, isoSeconds } from "./siws.js";
export { decodeFrame, encodeRequest, encodeBatch, encodeValue, PROTOCOL_VERSION, REQUEST, REPLY, EVENT, MAX_BATCH } from "./codec.js";
export const DEFAULT_URL = "ws://127.0.0.1:8765/v1";
