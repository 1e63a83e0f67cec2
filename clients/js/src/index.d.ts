// Type declarations for @arena/client (hand-written; the source is plain ESM JavaScript).
// The wire protocol is docs/PROTOCOL.md; field names below are the wire's.

export declare const PROTOCOL_VERSION: 1;
export declare const REQUEST: 0;
export declare const REPLY: 1;
export declare const EVENT: 2;
export declare const MAX_BATCH: 64;
export declare const DEFAULT_URL: string;

export type Bytes = Uint8Array;
export type Wallet = string;

/** Stable error codes of PROTOCOL.md (servers may add more). */
export type ErrorCode =
  | "bad_frame" | "bad_request" | "unknown_type" | "unsupported_protocol" | "unauthenticated"
  | "auth_failed" | "rate_limited" | "cooldown_active" | "not_found" | "not_allowed" | "wrong_state"
  | "insufficient_funds" | "duplicate" | "payment_failed" | "overloaded" | "internal"
  | (string & {});

/** The server answered "error". `message` is the server's text (the code when it sent none). */
export declare class ArenaError extends Error {
  constructor(code: string, message?: string, retryAfterMs?: number, body?: unknown);
  readonly code: ErrorCode;
  readonly serverMessage: string;
  /** Present where waiting helps (rate_limited, overloaded, ...). */
  readonly retryAfterMs: number | undefined;
  readonly body: Record<string, unknown>;
  static fromBody(body: unknown): ArenaError;
}
export declare class ArenaClosedError extends Error {
  readonly code: number | undefined;
  readonly reason: string;
}
export declare class ArenaTimeoutError extends Error {}
export declare class ArenaProtocolError extends Error {}

export declare class Keypair {
  /** @param secretKey the 32-byte ed25519 seed */
  constructor(secretKey: Bytes);
  readonly secretKey: Bytes;
  readonly publicKey: Bytes;
  /** base58 of the public key: the wallet (Solana) address */
  readonly address: Wallet;
  static generate(): Keypair;
  /** 64 bytes (a Solana keypair file's array: seed + public key) or a 32-byte seed. */
  static fromBytes(bytes: ArrayLike<number>): Keypair;
  toBytes(): Bytes;
  sign(message: Bytes | string): Bytes;
}
export declare function verify(signature: Bytes, message: Bytes | string, address: Wallet): boolean;
/** A dev keypair kept in `storage` (e.g. localStorage) under `key`. Play money only. */
export declare function devKeypair(storage?: Pick<Storage, "getItem" | "setItem"> | null, key?: string): Keypair;
export declare const base58: { encode(bytes: Bytes): string; decode(text: string): Bytes };

export interface SiwsFields {
  domain: string;
  address: Wallet;
  statement?: string;
  uri?: string;
  version?: string;
  chainId?: string;
  nonce?: string;
  issuedAt?: string;
  expirationTime?: string;
  notBefore?: string;
  requestId?: string;
  resources?: string[];
}
export declare function buildSiwsMessage(fields: SiwsFields): string;
export declare function isoSeconds(date: Date): string;

/** The canvas.join bitmap uncompressed (zlib): width × height palette indices. */
export declare function inflateBitmap(bitmap: Bytes, width?: number, height?: number): Promise<Bytes>;
/** canvas:pixels bytes -> placements in order. */
export declare function decodePixels(pixels: Bytes): { x: number; y: number; color: number }[];

export declare function encodeRequest(rid: number, type: string, body?: object): Bytes;
export declare function encodeBatch(items: [rid: number, type: string, body?: object][]): Bytes;
export declare function encodeValue(value: unknown): Bytes;
export declare function decodeFrame(data: Bytes | ArrayBuffer): unknown[];

// --- bodies -------------------------------------------------------------------------

export interface HelloReply { protocol: 1; server: string; tick_hz: number; tick: number; nonce: string; domain?: string }
export interface LoginReply { session: string; user: { id: string; wallet?: Wallet; username?: string | null; name?: string; role?: "agent" | "operator" } }
export interface ResumeReply { resumed: true; replayed: number }
export interface TipResult { status: "pending" | "confirmed"; amount: number; fee: number }

export interface MatchFound { match: string; mode: string; tier: string; players: [Wallet, Wallet]; opponent: Wallet; entry_fee: number; entry_deadline_ms: number }
export interface RoundStart { match: string; roundNumber: number; prompt: string; timeLimit: number; countdown: number }
export interface RoastSubmitted { match: string; playerId: Wallet; audioUrl: string | null; timestamp: number }
export interface ReactionSent { match: string; emoji: string; senderId: Wallet; count: number }
export interface ScoreRevealed {
  match: string; roundNumber: number; playerId: Wallet; score: number;
  breakdown: { savagery: number; creativity: number; delivery: number; relevance: number }; commentary: string;
}
export interface BattleEnded {
  match: string; winnerId: Wallet | null; finalScores: { player1: number; player2: number };
  prizeAmount: number; reason: "completed" | "forfeit" | "cancelled";
}
export interface MatchSnapshot { match: string; tick: number; state: Record<string, unknown> }
export interface TipReceived { from: Wallet; to: Wallet; amount: number; fee: number; match?: string }
export interface WalletUpdated { balance: number; change: number; reason: string; key: string }

/** Known events; any other type has an `unknown` body. */
export interface EventBodies {
  "match.found": MatchFound;
  "entry.confirmed": { match: string; player: Wallet };
  "battle:round_start": RoundStart;
  "battle:roast_submitted": RoastSubmitted;
  "reaction:sent": ReactionSent;
  "battle:score_revealed": ScoreRevealed;
  "battle:ended": BattleEnded;
  "match.snapshot": MatchSnapshot;
  "tip:received": TipReceived;
  "wallet:updated": WalletUpdated;
  "canvas:pixels": { canvas: string; pixels: Bytes };
  "week_reset": { archive: { year: number; week: number; mode: string }; next_mode: string };
  "lottery:pool": LotteryPool;
  "contest:rankings": ContestRankings;
  "view:charged": ViewCharged;
  "view:stopped": ViewStopped;
}
export type EventType = keyof EventBodies | (string & {});
export type BodyOf<T extends string> = T extends keyof EventBodies ? EventBodies[T] : any;
export interface ArenaEvent<B = any> { type: string; body: B; seq: number }

export interface CanvasWeek {
  canvas: string; year: number; week: number; mode: string; width: number; height: number;
  palette: string[]; cooldown_ms: number; bitmap: Bytes; next_place_ms: number; resets_at_ms: number;
  /** the bitmap uncompressed (added by canvasJoin) */
  pixels: Bytes;
}
export interface PortfolioEntry { token: string; weight_bps: number }
export interface ContestRankings { contest: string; at_ms: number; stale: boolean; rankings: { rank: number; wallet: Wallet; score_bps: number }[] }
export interface ViewCharged { content: string; seconds: number; amount: number; balance: number }
export interface ViewStopped { content: string; reason: "stopped" | "no_beat" | "disconnected" | "no_balance" | "round_ended" }
export interface LotteryPool { round: string; yes: { total: number; matched: number }; no: { total: number; matched: number } }

export interface MatchSummary { match: string; mode: string; phase: string; players: Wallet[]; watchers: number; started_at_ms: number; [k: string]: unknown }
export interface Leaderboard {
  board: string; period: "all" | "week"; period_key: string;
  entries: { rank: number; wallet: Wallet; username: string | null; score: number }[];
}
export interface HistoryPage { matches: { match: string; mode: string; ended_at_ms: number; result: Record<string, any> }[]; next: string | null }
export interface Profile { wallet: Wallet; username: string | null; avatar_url: string | null; stats: Record<string, number> }

export type Status =
  | { state: "reconnecting"; code: number; reason: string }
  | { state: "resumed"; replayed: number; lastSeq: number }
  | { state: "session_lost"; error: ArenaError }
  | { state: "closed"; code: number | undefined; reason: string }
  | { state: "gap"; expected: number; got: number };

export interface ReconnectOptions {
  enabled?: boolean;
  /** attempts before giving up (default 10) */
  attempts?: number;
  /** first delay, doubled per attempt up to maxDelayMs (defaults 250 / 5000) */
  delayMs?: number;
  maxDelayMs?: number;
}

export interface ConnectOptions {
  keypair?: Keypair;
  /** sent in hello (default "arena-js") */
  clientName?: string;
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** false: never reconnect; default: reconnect and session.resume after a drop */
  reconnect?: false | ReconnectOptions;
  /** most unconsumed events kept for nextEvent (default 1024; 0: none) */
  bufferEvents?: number;
  /** a WebSocket constructor (default: the global one, else the `ws` package) */
  WebSocket?: unknown;
}

export type BatchItem = [type: string, body?: object] | { type: string; body?: object };

export declare class ArenaClient {
  constructor(url: string, options?: ConnectOptions);
  readonly url: string;
  keypair: Keypair | null;
  wallet: Wallet | null;
  session: string | null;
  user: LoginReply["user"] | null;
  serverInfo: HelloReply | null;
  nonce: string | null;
  lastSeq: number;
  readonly seqGaps: { expected: number; got: number }[];
  readonly unclaimedReplies: { rid: number; status: string; body: unknown }[];
  readonly protocolErrors: string[];
  readonly state: "connecting" | "open" | "reconnecting" | "closed";
  readonly closeCode: number | undefined;
  readonly closeReason: string;

  open(): Promise<this>;
  close(code?: number, reason?: string): void;
  /** Drop the socket like a network failure (reconnects when enabled). */
  drop(): void;
  onStatus(fn: (status: Status) => void): () => void;

  request<R = any>(type: string, body?: object, options?: { timeoutMs?: number }): Promise<R>;
  /** One result per item: the ok body, or an ArenaError instance. */
  batch(items: BatchItem[], options?: { timeoutMs?: number }): Promise<any[]>;

  on<T extends EventType>(type: T | "*", fn: (body: BodyOf<T>, event: ArenaEvent<BodyOf<T>>) => void): () => void;
  off(type: string, fn: Function): void;
  nextEvent<T extends EventType>(
    type?: T | T[] | null,
    options?: { match?: string; where?: (body: BodyOf<T>) => boolean; timeout?: number },
  ): Promise<ArenaEvent<BodyOf<T>>>;
  drainEvents(): ArenaEvent[];

  hello(): Promise<HelloReply>;
  login(keypair?: Keypair): Promise<LoginReply>;
  loginSiws(options?: {
    keypair?: Keypair;
    /** a wallet adapter's signer, with the wallet's address */
    address?: Wallet;
    signMessage?: (message: Bytes) => Promise<Bytes>;
    statement?: string;
    uri?: string;
    expiresInS?: number | null;
  }): Promise<LoginReply>;
  loginKey(apiKey: string): Promise<LoginReply>;
  resume(session?: string, lastSeq?: number): Promise<ResumeReply>;
  ping(): Promise<number>;

  balance(): Promise<number>;
  faucet(): Promise<number>;
  payEntry(match: string): Promise<"pending" | "confirmed">;
  tip(to: Wallet, amount: number, match?: string): Promise<TipResult>;

  queue(tier?: "bronze" | "silver" | "gold" | "diamond", mode?: string): Promise<{ queued: true }>;
  leaveQueue(): Promise<{ queued: false }>;
  submit(match: string, round: number, text: string, audio?: Bytes): Promise<{}>;
  react(match: string, emoji: string): Promise<{}>;
  watch(match: string): Promise<{}>;

  canvasJoin(): Promise<CanvasWeek>;
  /** resolves with next_place_ms (ms from now) */
  place(x: number, y: number, color: number): Promise<number>;
  watchRound(round: string): Promise<{}>;
  bet(round: string, side: "yes" | "no", amount: number): Promise<{ status: "pending" | "confirmed"; bet: string }>;

  watchContest(contest: string): Promise<{}>;
  joinContest(contest: string, portfolio: PortfolioEntry[]): Promise<{ status: "pending" | "confirmed"; amount: number }>;

  deposit(amount: number): Promise<{ status: "pending" | "confirmed"; balance: number; amount: number }>;
  viewStart(content: string): Promise<{ rate_per_s: number; balance: number }>;
  viewBeat(content: string): Promise<{}>;
  viewStop(): Promise<{ seconds: number; charged: number }>;
  listContent(content: string, price: number): Promise<{}>;
  unlistContent(content: string): Promise<{}>;
  buyContent(content: string): Promise<{ status: "pending" | "confirmed"; amount: number; fee: number }>;

  listMatches(mode?: string, options?: { phase?: string; limit?: number }): Promise<MatchSummary[]>;
  leaderboard(board: string, options?: { period?: "all" | "week"; limit?: number; around?: Wallet }): Promise<Leaderboard>;
  history(options?: { wallet?: Wallet; mode?: string; limit?: number; before?: string }): Promise<HistoryPage>;
  profile(wallet?: Wallet): Promise<Profile>;
  setProfile(fields: { username?: string; avatar?: Bytes }): Promise<Profile>;
}

export declare function connect(url: string, options?: ConnectOptions): Promise<ArenaClient>;
