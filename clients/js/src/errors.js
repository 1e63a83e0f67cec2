// Errors raised by the SDK. Server-side failures are ArenaError with the
// stable `code` of PROTOCOL.md ("bad_request", "unauthenticated", ...).

/** The server answered a request with status "error". */
export class ArenaError extends Error {
  constructor(code, message = "", retryAfterMs = undefined, body = undefined) {
    // `message` is the server's text as sent (the code when it sent none);
    // toString() and the stack's first line name the code too.
    super(message || code);
    this.name = "ArenaError";
    this.code = code;
    /** The server's message exactly as sent ("" when none). */
    this.serverMessage = message;
    this.retryAfterMs = retryAfterMs;
    this.body = body ?? { code, message };
    if (typeof this.stack === "string") this.stack = this.stack.replace(/^[^\n]*/, this.toString());
  }

  toString() {
    return `ArenaError(${this.code}): ${this.message}`;
  }

  /** Build from an error reply body, tolerating a malformed one. */
  static fromBody(body) {
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      return new ArenaError("bad_reply", `error reply body is not a map: ${String(body)}`, undefined, { raw: body });
    }
    const code = typeof body.code === "string" ? body.code : String(body.code);
    const message = typeof body.message === "string" ? body.message : "";
    const retry = Number.isInteger(body.retry_after_ms) ? body.retry_after_ms : undefined;
    return new ArenaError(code, message, retry, body);
  }
}

/** The connection closed (or was never open) before the operation finished. */
export class ArenaClosedError extends Error {
  constructor(code = undefined, reason = "") {
    super(`connection closed${code !== undefined ? ` (code ${code}${reason ? ", " + reason : ""})` : ""}`);
    this.name = "ArenaClosedError";
    this.code = code;
    this.reason = reason;
  }
}

/** No reply, or no matching event, within the timeout. */
export class ArenaTimeoutError extends Error {
  constructor(message) {
    super(message);
    this.name = "ArenaTimeoutError";
  }
}

/** The server sent something the protocol does not allow. */
export class ArenaProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = "ArenaProtocolError";
  }
}
