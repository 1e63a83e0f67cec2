// ArenaClient: one protocol session over a WebSocket, surviving drops.
//
// Replies are matched to requests by rid. Events are numbered by the server
// (seq, from 1 per session); the client tracks the highest seq seen and
// records gaps. When the socket drops after login, the client (by default)
// reconnects, sends hello + session.resume {session, last_seq}, and the
// server replays the missed events in order, so listeners see one unbroken
// stream. Requests made while reconnecting wait for the resume.

import { decodeFrame, encodeBatch, encodeRequest, EVENT, MAX_BATCH, PROTOCOL_VERSION, REPLY, UINT32_MAX } from "./codec.js";
import { ArenaClosedError, ArenaError, ArenaProtocolError, ArenaTimeoutError } from "./errors.js";
import { Keypair } from "./keys.js";
import { inflateBitmap } from "./canvas.js";
import { buildSiwsMessage, isoSeconds } from "./siws.js";
import { openSocket } from "./transport.js";

// Close codes after which reconnecting cannot help (PROTOCOL.md "Connection"):
// policy (1008), too big (1009), protocol error (1002), bad text (1007),
// session taken over by another connection (4000).
const FINAL_CLOSE_CODES = new Set([1002, 1007, 1008, 1009, 4000]);

// session.resume errors that retrying cannot fix (PROTOCOL.md "Sessions").
const SESSION_LOST_CODES = new Set(["not_found", "bad_request", "wrong_state", "unknown_type"]);

const DEFAULT_RECONNECT = { enabled: true, attempts: 10, delayMs: 250, maxDelayMs: 5000 };

/** A body of the fields that are not undefined/null (absent: the server's default). */
function given(fields) {
  const out = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class ArenaClient {
  /**
   * Use `connect(url, options)` rather than this constructor.
   * options: {keypair, clientName, requestTimeoutMs, reconnect: false | {...},
   *           bufferEvents (max unconsumed events kept for nextEvent), WebSocket}
   */
  constructor(url, options = {}) {
    this.url = url;
    this.keypair = options.keypair ?? null;
    this.wallet = this.keypair?.address ?? null;
    this.clientName = options.clientName ?? "arena-js";
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.reconnect = options.reconnect === false
      ? { ...DEFAULT_RECONNECT, enabled: false }
      : { ...DEFAULT_RECONNECT, ...(options.reconnect ?? {}) };
    this.bufferLimit = options.bufferEvents ?? 1024;
    this._WebSocket = options.WebSocket;

    /** Session state. */
    this.session = null;
    this.user = null;
    this.serverInfo = null; // the hello reply
    this.nonce = null; // the unused hello nonce, if any
    /** Highest event seq seen, and the gaps [{expected, got}] found. */
    this.lastSeq = 0;
    this.seqGaps = [];
    /** Replies nobody waited for (e.g. bad_frame under rid 0): [{rid, status, body}]. */
    this.unclaimedReplies = [];
    this.protocolErrors = [];
    /** "connecting" | "open" | "reconnecting" | "closed" */
    this.state = "connecting";
    this.closeCode = undefined;
    this.closeReason = "";

    this._link = null;
    this._nextRid = 1;
    this._pending = new Map(); // rid -> {resolve, reject, timer}
    this._listeners = new Map(); // type | "*" -> Set(fn)
    this._statusListeners = new Set();
    this._buffer = []; // unconsumed events [{type, body, seq}] for nextEvent
    this._waiters = new Set(); // nextEvent waiters
    this._closedByUser = false;
    this._ready = null; // promise resolved when a reconnect finished (or failed)
  }

  // --- connection ---------------------------------------------------------------------

  /** Open the socket (connect() calls this). */
  async open() {
    this._attach(await openSocket(this.url, { WebSocket: this._WebSocket, timeoutMs: this.connectTimeoutMs }));
    this.state = "open";
    return this;
  }

  _attach(link) {
    this._link = link;
    link.onframe = (data) => this._onFrame(data);
    link.onclose = (code, reason) => this._onSocketClosed(link, code, reason);
  }

  /** Close for good (no reconnect). Pending requests fail with ArenaClosedError. */
  close(code = 1000, reason = "") {
    this._closedByUser = true;
    this._link?.close(code, reason);
    this._finish(code, reason || "client closed");
  }

  /**
   * Drop the connection as a network failure would (for tests and "airplane
   * mode"): the client reconnects and resumes when reconnecting is enabled.
   */
  drop() {
    this._link?.drop();
  }

  _onSocketClosed(link, code, reason) {
    if (link !== this._link) return; // an older socket
    this._failPending(new ArenaClosedError(code, reason));
    if (this._closedByUser || this.state === "closed") return;
    if (this.state === "reconnecting") return; // a socket of the reconnect loop: the loop tries again
    const canResume = this.reconnect.enabled && this.session && !FINAL_CLOSE_CODES.has(code);
    if (!canResume) {
      this._finish(code, reason);
      return;
    }
    this.state = "reconnecting";
    this._emitStatus({ state: "reconnecting", code, reason });
    this._ready = this._reconnectLoop(code, reason);
  }

  async _reconnectLoop(code, reason) {
    let delay = this.reconnect.delayMs;
    for (let attempt = 1; attempt <= this.reconnect.attempts; attempt++) {
      if (this._closedByUser) return;
      await sleep(delay);
      delay = Math.min(delay * 2, this.reconnect.maxDelayMs);
      if (this._closedByUser) return;
      let link;
      try {
        link = await openSocket(this.url, { WebSocket: this._WebSocket, timeoutMs: this.connectTimeoutMs });
      } catch {
        continue; // server not reachable yet: try again
      }
      if (this._closedByUser) {
        link.close();
        return;
      }
      this._attach(link);
      try {
        await this._send("hello", { protocol: PROTOCOL_VERSION, client: this.clientName }, true).then((b) => this._onHello(b));
        const lastSeq = this.lastSeq;
        const reply = await this._send("session.resume", { session: this.session, last_seq: lastSeq }, true);
        this.state = "open";
        this._emitStatus({ state: "resumed", replayed: reply.replayed, lastSeq });
        return;
      } catch (err) {
        if (err instanceof ArenaError && SESSION_LOST_CODES.has(err.code)) {
          // The session expired (not_found) or cannot be taken over: log in again.
          this.session = null;
          this.state = "open";
          this._emitStatus({ state: "session_lost", error: err });
          return;
        }
        // The new socket closed too, or the server is busy (overloaded,
        // rate_limited, internal): drop this socket and try again.
        if (err instanceof ArenaError) link.close();
      }
    }
    this._finish(code, reason);
  }

  _finish(code, reason) {
    if (this.state === "closed") return;
    this.state = "closed";
    this.closeCode = code;
    this.closeReason = reason;
    this._failPending(new ArenaClosedError(code, reason));
    for (const w of this._waiters) w.fail(new ArenaClosedError(code, reason));
    this._emitStatus({ state: "closed", code, reason });
  }

  _failPending(err) {
    const pending = this._pending;
    this._pending = new Map();
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  /** Listen to connection changes: fn({state: "reconnecting"|"resumed"|"session_lost"|"closed"|"gap", ...}). */
  onStatus(fn) {
    this._statusListeners.add(fn);
    return () => this._statusListeners.delete(fn);
  }

  _emitStatus(status) {
    for (const fn of this._statusListeners) {
      try {
        fn(status);
      } catch (err) {
        this.protocolErrors.push(`status listener threw: ${err}`);
      }
    }
  }

  // --- frames -------------------------------------------------------------------------

  /** Handle one frame from the server. Never throws: off-protocol input is logged in protocolErrors. */
  _onFrame(data) {
    if (typeof data === "string") {
      this.protocolErrors.push("text frame from server");
      return;
    }
    let envelopes;
    try {
      envelopes = decodeFrame(data);
    } catch (err) {
      this.protocolErrors.push(`undecodable frame: ${err.message}`);
      return;
    }
    for (const env of envelopes) {
      if (!Array.isArray(env) || env.length !== 4 || !Number.isInteger(env[0])) {
        this.protocolErrors.push("not an envelope");
        continue;
      }
      const [kind, n, t, body] = env;
      if (kind === REPLY) this._onReply(n, t, body);
      else if (kind === EVENT) this._onEvent(n, t, body);
      else this.protocolErrors.push(`unknown envelope kind ${kind}`);
    }
  }

  _onReply(rid, status, body) {
    const p = this._pending.get(rid);
    if (!p) {
      this.unclaimedReplies.push({ rid, status, body });
      return;
    }
    this._pending.delete(rid);
    clearTimeout(p.timer);
    if (status === "ok") p.resolve(body);
    else if (status === "error") p.reject(ArenaError.fromBody(body));
    else p.reject(new ArenaProtocolError(`reply status ${status} is neither "ok" nor "error"`));
  }

  _onEvent(seq, type, body) {
    if (!Number.isInteger(seq) || typeof type !== "string") {
      this.protocolErrors.push("bad event envelope");
      return;
    }
    const expected = this.lastSeq + 1;
    if (seq !== expected) {
      this.seqGaps.push({ expected, got: seq });
      this._emitStatus({ state: "gap", expected, got: seq });
    }
    if (seq > this.lastSeq) this.lastSeq = seq;
    const event = { type, body, seq };
    // A waiting nextEvent takes the event; otherwise it is buffered for a later one.
    let taken = false;
    for (const w of this._waiters) {
      if (w.matches(event)) {
        w.take(event);
        taken = true;
        break;
      }
    }
    if (!taken && this.bufferLimit > 0) {
      this._buffer.push(event);
      if (this._buffer.length > this.bufferLimit) this._buffer.shift();
    }
    for (const key of [type, "*"]) {
      const set = this._listeners.get(key);
      if (!set) continue;
      for (const fn of set) {
        try {
          fn(body, event);
        } catch (err) {
          this.protocolErrors.push(`listener for ${type} threw: ${err}`);
        }
      }
    }
  }

  // --- requests -----------------------------------------------------------------------

  _rid() {
    let rid = this._nextRid;
    while (this._pending.has(rid)) rid = rid < UINT32_MAX ? rid + 1 : 1;
    this._nextRid = rid < UINT32_MAX ? rid + 1 : 1; // rid 0 is the server's "no rid"
    return rid;
  }

  _register(rid, timeoutMs, label) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(rid);
        reject(new ArenaTimeoutError(`no reply to ${label} within ${timeoutMs} ms`));
      }, timeoutMs);
      this._pending.set(rid, { resolve, reject, timer });
    });
  }

  /** Wait for a reconnect in progress; throw if the client is closed. */
  async _whenUsable() {
    if (this.state === "reconnecting") await this._ready;
    if (this.state === "closed") throw new ArenaClosedError(this.closeCode, this.closeReason);
  }

  // internal: send on the current socket without waiting for a reconnect (the reconnect loop uses it)
  _send(type, body, internal = false, timeoutMs = this.requestTimeoutMs) {
    if (!internal && this.state !== "open") return Promise.reject(new ArenaClosedError(this.closeCode, this.closeReason));
    const rid = this._rid();
    const promise = this._register(rid, timeoutMs, type);
    try {
      this._link.send(encodeRequest(rid, type, body));
    } catch (err) {
      this._pending.get(rid)?.reject(new ArenaClosedError(undefined, String(err)));
      clearTimeout(this._pending.get(rid)?.timer);
      this._pending.delete(rid);
    }
    return promise;
  }

  /**
   * Send one request; resolve with its ok reply body, reject with ArenaError
   * {code, message, retryAfterMs} for an error reply.
   */
  async request(type, body = {}, { timeoutMs } = {}) {
    await this._whenUsable();
    // The server uses the hello nonce up with any login attempt, even a raw one.
    if (type === "auth.login" || type === "auth.siws") this.nonce = null;
    return this._send(type, body, false, timeoutMs ?? this.requestTimeoutMs);
  }

  /**
   * Send several requests in one frame. `items`: [[type, body], ...] or
   * [{type, body}, ...]. Resolves with one result per item, in order: the ok
   * body, or an ArenaError instance for an error reply (never rejects for those).
   */
  async batch(items, { timeoutMs } = {}) {
    const list = items.map((it) => (Array.isArray(it) ? { type: it[0], body: it[1] } : it));
    if (list.length === 0) return [];
    if (list.length > MAX_BATCH) throw new RangeError(`a batch holds at most ${MAX_BATCH} requests`);
    await this._whenUsable();
    if (this.state !== "open") throw new ArenaClosedError(this.closeCode, this.closeReason);
    if (list.some((it) => it.type === "auth.login" || it.type === "auth.siws")) this.nonce = null;
    const wait = timeoutMs ?? this.requestTimeoutMs;
    const rids = list.map(() => this._rid());
    const promises = rids.map((rid, i) =>
      this._register(rid, wait, list[i].type).then((b) => b, (err) => {
        if (err instanceof ArenaError) return err;
        throw err;
      }));
    this._link.send(encodeBatch(list.map((it, i) => [rids[i], it.type, it.body])));
    return Promise.all(promises);
  }

  // --- events -------------------------------------------------------------------------

  /**
   * Call fn(body, {type, body, seq}) for every event of `type` ("*" for all).
   * Returns a function that removes the listener.
   */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this._listeners.get(type)?.delete(fn);
  }

  /**
   * The oldest unconsumed event matching `type` (a string, an array of them,
   * or null for any), `match` (body.match) and `where(body)`, removed from the
   * buffer; waits up to `timeout` ms for one. Resolves with {type, body, seq}.
   */
  nextEvent(type = null, { match, where, timeout = 10_000 } = {}) {
    const types = type === null ? null : new Set(Array.isArray(type) ? type : [type]);
    const matches = (ev) =>
      (types === null || types.has(ev.type)) &&
      (match === undefined || (ev.body && ev.body.match === match)) &&
      (where === undefined || where(ev.body));
    const i = this._buffer.findIndex(matches);
    if (i >= 0) return Promise.resolve(this._buffer.splice(i, 1)[0]);
    if (this.state === "closed") return Promise.reject(new ArenaClosedError(this.closeCode, this.closeReason));
    return new Promise((resolve, reject) => {
      const waiter = {
        matches,
        take: (ev) => done(() => resolve(ev)),
        fail: (err) => done(() => reject(err)),
      };
      const timer = setTimeout(() => {
        const what = type === null ? "(any)" : [...types].join("|");
        waiter.fail(new ArenaTimeoutError(`no event ${what}${match ? " for match " + match : ""} within ${timeout} ms`));
      }, timeout);
      const done = (settle) => {
        clearTimeout(timer);
        this._waiters.delete(waiter);
        settle();
      };
      this._waiters.add(waiter);
    });
  }

  /** Remove and return all buffered events. */
  drainEvents() {
    return this._buffer.splice(0);
  }

  // --- session ------------------------------------------------------------------------

  _onHello(body) {
    this.serverInfo = body;
    this.nonce = body.nonce ?? null;
    return body;
  }

  /** hello: {protocol, server, tick_hz, tick, nonce, domain}. */
  async hello() {
    return this._onHello(await this.request("hello", { protocol: PROTOCOL_VERSION, client: this.clientName }));
  }

  async _keyAndNonce(keypair) {
    if (keypair) this.keypair = keypair;
    if (!this.keypair) this.keypair = Keypair.generate(); // an in-page dev key, kept on the client
    this.wallet = this.keypair.address;
    if (this.nonce === null) await this.hello();
    const nonce = this.nonce;
    this.nonce = null; // used up by the attempt, whatever its outcome
    return nonce;
  }

  _onLogin(body) {
    this.session = body.session;
    this.user = body.user;
    return body;
  }

  /** auth.login with the wallet key (given, the client's, or a fresh one); sends hello first if needed. */
  async login(keypair) {
    const nonce = await this._keyAndNonce(keypair);
    const signature = this.keypair.sign("arena:login:" + nonce);
    return this._onLogin(await this.request("auth.login", { wallet: this.wallet, signature }));
  }

  /**
   * auth.siws with a Sign-In With Solana message for the server's domain and
   * this connection's nonce. Signs with the client's keypair, or with
   * `signMessage(bytes) => Promise<Uint8Array>` (a wallet adapter's) for the
   * address `address`.
   */
  async loginSiws({ keypair, address, signMessage, statement = "Sign in to Arena.", uri, expiresInS = 600 } = {}) {
    let nonce;
    if (signMessage) {
      if (!address) throw new TypeError("loginSiws: signMessage needs the wallet's address");
      if (this.nonce === null) await this.hello();
      nonce = this.nonce;
      this.nonce = null;
      this.wallet = address;
    } else {
      nonce = await this._keyAndNonce(keypair);
    }
    const domain = this.serverInfo?.domain ?? "localhost";
    const now = new Date();
    const text = buildSiwsMessage({
      domain,
      address: this.wallet,
      statement,
      uri: uri ?? `https://${domain}`,
      version: "1",
      chainId: "mainnet",
      nonce,
      issuedAt: isoSeconds(now),
      expirationTime: expiresInS == null ? undefined : isoSeconds(new Date(now.getTime() + expiresInS * 1000)),
    });
    const bytes = new TextEncoder().encode(text);
    const signature = signMessage ? await signMessage(bytes) : this.keypair.sign(bytes);
    return this._onLogin(await this.request("auth.siws", { message: text, signature }));
  }

  /** auth.key: log in an agent or operator with an API key. */
  async loginKey(key) {
    if (this.serverInfo === null) await this.hello();
    return this._onLogin(await this.request("auth.key", { key }));
  }

  /**
   * session.resume by hand (e.g. a page reload that kept {session, lastSeq}):
   * takes the session over; missed events follow the reply.
   */
  async resume(session = this.session, lastSeq = this.lastSeq) {
    if (this.serverInfo === null) await this.hello();
    const before = this.lastSeq;
    this.lastSeq = lastSeq; // replayed events are expected from lastSeq + 1
    try {
      const body = await this.request("session.resume", { session, last_seq: lastSeq });
      this.session = session;
      return body;
    } catch (err) {
      this.lastSeq = before;
      throw err;
    }
  }

  /** ping: the server's tick. */
  async ping() {
    return (await this.request("ping", {})).tick;
  }

  _sign(bytes) {
    if (!this.keypair) throw new Error("no keypair: call login() or pass {keypair}");
    return this.keypair.sign(bytes);
  }

  // --- wallet and payments --------------------------------------------------------------

  async balance() {
    return (await this.request("wallet.balance", {})).balance;
  }

  /** The dev faucet (where the server enables one); the new balance. */
  async faucet() {
    return (await this.request("wallet.faucet", {})).balance;
  }

  /** entry.build -> sign the tx bytes -> entry.confirm; "pending" or "confirmed". */
  async payEntry(match) {
    const { tx } = await this.request("entry.build", { match });
    return (await this.request("entry.confirm", { match, tx, signature: this._sign(tx) })).status;
  }

  /** tip.build -> sign -> tip.confirm; {status, amount, fee}. `match`: the battle watched. */
  async tip(to, amount, match) {
    const built = await this.request("tip.build", { to, amount });
    const body = await this.request("tip.confirm", given({ tx: built.tx, signature: this._sign(built.tx), match }));
    return { status: body.status, amount: built.amount, fee: built.fee };
  }

  // --- roast battles --------------------------------------------------------------------

  queue(tier = "bronze", mode = "roast") {
    return this.request("queue.join", { mode, tier });
  }

  leaveQueue() {
    return this.request("queue.leave", {});
  }

  submit(match, round, text, audio) {
    return this.request("roast.submit", given({ match, round, text, audio }));
  }

  react(match, emoji) {
    return this.request("reaction.send", { match, emoji });
  }

  /** match.watch; the match.snapshot event that follows arrives as an event. */
  watch(match) {
    return this.request("match.watch", { match });
  }

  // --- the weekly canvas ----------------------------------------------------------------

  /** canvas.join: the week's canvas, with `pixels` (the bitmap uncompressed) added. */
  async canvasJoin() {
    const week = await this.request("canvas.join", {});
    return { ...week, pixels: await inflateBitmap(week.bitmap, week.width, week.height) };
  }

  /** canvas.place; the reply's next_place_ms (ms from now). */
  async place(x, y, color) {
    return (await this.request("canvas.place", { x, y, color })).next_place_ms;
  }

  // --- lottery rounds -------------------------------------------------------------------

  /** lottery.watch: lottery:pool events follow. */
  watchRound(round) {
    return this.request("lottery.watch", { round });
  }

  /** lottery.bet.build -> sign -> lottery.bet.confirm; {status, bet}. */
  async bet(round, side, amount) {
    const { tx } = await this.request("lottery.bet.build", { round, side, amount });
    return this.request("lottery.bet.confirm", { round, tx, signature: this._sign(tx) });
  }

  // --- trading contests -----------------------------------------------------------------

  /** contest.watch: contest:rankings events follow. */
  watchContest(contest) {
    return this.request("contest.watch", { contest });
  }

  /** contest.join.build -> sign -> contest.join.confirm; {status, amount}. `portfolio`: [{token, weight_bps}]. */
  async joinContest(contest, portfolio) {
    const built = await this.request("contest.join.build", { contest, portfolio });
    const { status } = await this.request("contest.join.confirm", { contest, tx: built.tx, signature: this._sign(built.tx) });
    return { status, amount: built.amount };
  }

  // --- meme rounds ----------------------------------------------------------------------

  /** view.deposit.build -> sign -> view.deposit.confirm into the viewing balance; {status, balance, amount}. */
  async deposit(amount) {
    const built = await this.request("view.deposit.build", { amount });
    const body = await this.request("view.deposit.confirm", { tx: built.tx, signature: this._sign(built.tx) });
    return { status: body.status, balance: body.balance, amount: built.amount };
  }

  /** view.start; {rate_per_s, balance}. Send viewBeat(content) well inside the server's beat timeout (5 s). */
  viewStart(content) {
    return this.request("view.start", { content });
  }

  viewBeat(content) {
    return this.request("view.beat", { content });
  }

  /** view.stop; {seconds, charged}. */
  viewStop() {
    return this.request("view.stop", {});
  }

  listContent(content, price) {
    return this.request("market.list", { content, price });
  }

  unlistContent(content) {
    return this.request("market.unlist", { content });
  }

  /** market.buy.build -> sign -> market.buy.confirm; {status, amount, fee}. */
  async buyContent(content) {
    const built = await this.request("market.buy.build", { content });
    const { status } = await this.request("market.buy.confirm", { content, tx: built.tx, signature: this._sign(built.tx) });
    return { status, amount: built.amount, fee: built.fee };
  }

  // --- platform reads -------------------------------------------------------------------

  async listMatches(mode = "roast", { phase, limit } = {}) {
    return (await this.request("match.list", given({ mode, phase, limit }))).matches;
  }

  leaderboard(board, { period, limit, around } = {}) {
    return this.request("leaderboard.get", given({ board, period, limit, around }));
  }

  history({ wallet, mode, limit, before } = {}) {
    return this.request("history.get", given({ wallet, mode, limit, before }));
  }

  profile(wallet = this.wallet) {
    return this.request("profile.get", { wallet });
  }

  setProfile({ username, avatar } = {}) {
    return this.request("profile.set", given({ username, avatar }));
  }
}

/** Connect to an Arena server: `const c = await connect("ws://127.0.0.1:8765/v1", {keypair})`. */
export async function connect(url, options = {}) {
  return new ArenaClient(url, options).open();
}
