"""What a game mode is: a small set of callbacks over plain state, and the
vocabulary it declares so the framework can serve it without naming it.

Modeled on Nakama's match handler and Colyseus's rooms. The core owns time
(ticks and timers), routing, I/O and persistence; a mode decides what an
input or a due timer means for its matches. A mode is one package (see
`arena.modes.roast`, the worked example) whose modules import only the
standard library, attrs and `arena.engine`; it registers one `Mode` object
with `arena.engine.registry.register`, and the core does not change.

Callbacks and when the core calls them:

- `setup(config)`: once, when a fresh engine state is made (or a state
  recovered from before the mode existed); returns the mode's shared state
  (queues, leaderboards), kept in `state.modes[name]` (register its class
  with `arena.engine.snapshot.register`).
- `route(ctx, inp)`: an input that names no match but belongs to the mode:
  `queue.join` naming it, `QueueLeave`, a wallet's connection changing,
  `MatchPaired` naming it (shared matchmaking paired players for this
  world, see `shared_queue`), and the classes in `routed_inputs`.
- `input(ctx, match, inp)`: an input that names one of the mode's matches
  (any input class with a `match` field, routed by the core).
- `tick(ctx, match)`: the match's timer is due (`ctx.wake` set it).
- `leave(ctx, match, wallet)` / `rejoin(ctx, match, wallet)`: a bound wallet
  lost its last connection / has one again.
- `snapshot(ctx, match, wallet)`: the public view of a match for a wallet.
- `orphan_input(ctx, inp)`: an input naming a match that no longer exists
  (late results); the default ignores it.
- `entry_quote(match, wallet)`: the entry fee `wallet` owes now (raise
  ArenaError otherwise); used by `entry.build` / `entry.confirm`.

Outside data comes from the framework's feed port: the mode issues a
`FetchFeed` effect (no need to declare it in `effects`) and gets one
journaled `FeedResult` with the same key, through `input` for a live match,
`route` when its `match` is "", `orphan_input` when the match is gone
(docs/FEEDS.md).

Matches are created by the mode itself (from `route`, e.g. when matchmaking
pairs two players) and ended by it; `ctx.drop_match` forgets them.

What a mode declares (class attributes; all optional but `name`):

- `settings`: a frozen attrs class, the mode's `[<name>]` section of
  config.toml (a dict field is a `[<name>.<field>]` table). The loader builds
  it (unknown keys and bad values stop start-up naming the key); the engine
  keeps it in `EngineConfig.modes[name]`; a change between runs reaches the
  engine as a journaled `SettingsChanged` input.
- `inputs`: the mode's input classes (journaled by class name).
- `effects`: effect class -> the side task that carries it out ("judge", …;
  money always goes through `Settle`, the ledger's). Each effect has a `key`.
- `result_keys`: result input class -> function giving the key of the effect
  it answers (so recovery knows which outbox entry is done).
- `requests`: `GameRequest`s: the client requests the mode adds (name, body
  fields, the input each becomes, an optional upload pre-check).
- `GameRequest.payment`: a `Payment` request pair (build / confirm): money
  into a match's escrow for an amount the client chooses and the mode
  validates (`quote`), carried out by the gateway through the ledger port;
  the money arrives as `EntryFeePaid`, the build's choices as the mode's
  own input (`paid`).
- `queue_fields`: extra body fields of `queue.join` for this mode.
- `buckets`: per-connection rate buckets (`Bucket`) its requests name,
  configured in its section (`<bucket>_per_s`, `<bucket>_burst`).
- `records(state, tick, messages)`: rows the store keeps: `Record`s (in
  `mode_records`), or operations on the mode's own `tables` (`Tables`).
- `mirror_queues(shared)`: the mode's queues for the Redis mirror
  (`matchmaking:<queue>`); `quiet_events`: event types that change nothing
  a mirrored match shows; `winner_of(event)`: the wallet an event says won
  (the mirrored leaderboard counts it).
- `waiting_wallets(shared)`: wallets the mode believes connected outside
  any match (queued), told they are gone after a restart.
- `boards`: leaderboard name ("<mode>.<what>") -> `Board`: which events move
  it and by how many points per wallet. The framework turns those into rows
  of the store's generic `board_scores` table (one per period) in the
  tick's journal transaction; `leaderboard.get` reads them.
- `summary(state, match)`: the public one-line view of a live match for
  `match.list` (phase, players, watchers, started_at_ms), read between ticks.
- `MatchResult` records (from `records`): a finished match for
  `history.get`; `history_result(result, rows)` completes one with the rows
  of the mode's `Tables.history_details` query (per-round detail kept in its
  own tables).
"""

from __future__ import annotations

from collections.abc import Callable

from attrs import field, frozen


# The longest wallet signature of a payment: 64 bytes for a Solana wallet
# (ed25519), 65 for a BSV wallet (a Bitcoin Signed Message; arena.chain.keys).
SIGNATURE_MAX_BYTES = 65


@frozen
class RequestField:
    """One body field of a request: its name, type, whether it must be there,
    and the longest it may be (characters or bytes)."""

    name: str
    kind: type  # int, str, bytes, dict, bool, list (an array: `max_len` bounds its items)
    required: bool = True
    max_len: int | None = None
    # A wallet the mode will pay (a str field): the gateway refuses one the
    # server's ledger cannot pay (`Ledger.pays`) with `bad_request`, before
    # the engine sees it, so no settlement is ever issued to it.
    payee: bool = False


@frozen
class Upload:
    """A binary body field the gateway stores (media) before it hands the
    request to the engine, so the engine journals a URL, not the bytes.

    `accepts(state, wallet, body)` is the mode's rule: a slot number (the
    media key's last part) if the engine would accept this request now, None
    if not (the request then goes to the engine without the bytes, and the
    engine says why). `claim(body, wallet)` names the one upload in flight
    that a second identical request must not repeat.

    Media that are not a battle's recording: `media_types` (non-empty) makes
    the gateway check the declared type (the body's `type_field`) is one of
    them and decode or probe the bytes as that type (`arena.media.probe`:
    images with Pillow, video with ffmpeg) before storing them, answering
    `bad_request` for anything else; `store_key(body, wallet, data)` gives
    the media key they are stored under (`media.store_object`), instead of a
    recording's `audio/<match>/...` key."""

    field: str
    accepts: Callable
    claim: Callable
    media_types: frozenset = frozenset()
    type_field: str = ""
    store_key: Callable | None = None


PAYMENT_STEPS = ("build", "confirm")


def _non_empty(_inst, attr, value) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attr.name} must be a non-empty string")


def _payment_step(_inst, _attr, value) -> None:
    if value not in PAYMENT_STEPS:
        raise ValueError(f"a payment step is one of {PAYMENT_STEPS}, got {value!r}")


@frozen
class Payment:
    """Makes a `GameRequest` a payment into a match's escrow whose amount the
    client chooses and the mode validates (a bet), through the ledger port's
    entry payment (`build_entry` / `confirm_entry`), like `entry.build` /
    `entry.confirm` do for a fixed entry fee.

    - `step` "build": `quote(state, wallet, body) -> (match, amount)` checks
      the request against the state now (raise ArenaError otherwise); the
      gateway builds the payment and replies `{"tx", "amount"}`, and keeps
      the build's body until the confirm (by the ledger's `payment_ref` of
      the tx, which a wallet's signing leaves unchanged).
    - `step` "confirm" (body fields `tx`, `signature` and the match field):
      the gateway finds the build of that tx (same wallet, same mode, and a
      build request with the same `quote`: a payment built as one thing,
      a deposit, is never confirmed as another, a purchase), asks
      `quote(state, wallet, {**build body, **confirm body})` again (it must
      name the same match and amount), and confirms the payment. On
      "confirmed" it submits `EntryFeePaid` (the money: the same input and
      durable inbox as an entry fee) and then, on "confirmed" or "pending",
      the mode's own input `paid(match, wallet, amount, payment_id, body)`
      (the build's choices, e.g. a side), if it returns one. The reply is
      `receipt(status, payment_id)`.
    - `extra(state, wallet, amount, status) -> dict`, optional: fields added
      to the reply (`status` is "built" for the build step): a fee the client
      should see, a balance. On confirm it reads the state as it was before
      the engine took this payment's inputs.

    The mode must expect the two inputs in either order, and money with no
    choices (the choices' input lost in a crash): refund it."""

    step: str = field(validator=_payment_step)
    quote: Callable
    paid: Callable | None = None
    receipt: Callable | None = None
    extra: Callable | None = None


@frozen
class GameRequest:
    """A client request a mode adds: `make(session, rid, wallet, body, at_ms,
    url)` builds its input (`url`: the stored upload's, or None). A payment
    request (`payment`) has no `make`: the gateway carries it out."""

    name: str
    fields: tuple[RequestField, ...]
    make: Callable | None
    upload: Upload | None = None
    # A per-connection rate bucket of its own, besides the request bucket:
    # the name of one of the mode's `buckets`, for the chattiest requests.
    bucket: str | None = None
    # True: `make` gets the wall-clock ms at which the request arrived
    # (stamped outside the engine, journaled); else 0.
    stamp_ms: bool = False
    # "operator" or "agent": only a connection logged in with an API key of
    # that role may send it (an operator may send agent requests too).
    # Operator requests are written to the store's audit log.
    role: str | None = None
    # A payment into a match's escrow for an amount the mode validates
    # (`Payment`): the gateway builds / confirms it through the ledger port.
    payment: Payment | None = None


@frozen
class Bucket:
    """A per-connection token bucket the mode's chattiest requests take from,
    besides the request bucket (`GameRequest.bucket` names it). Configured in
    the mode's section as `<name>_per_s` and `<name>_burst`; these are the
    defaults."""

    per_s: int
    burst: int


@frozen
class Record:
    """A row a mode keeps in the store's `mode_records` table: (mode, kind,
    key) is its identity (written again, it is replaced), `data` a JSON-able
    map. Written in the same transaction as the tick's journal rows."""

    kind: str
    key: str
    data: dict = field(factory=dict)


@frozen
class Tables:
    """Tables a mode keeps in the store besides `mode_records`, declared for
    each store ("sqlite", "postgres"; the in-memory store by functions):

    - `migrations`: dialect -> ((version, statements), ...), applied in order
      and recorded per mode (`mode_migrations`); a released one never changes;
    - `statements(dialect, op)`: the (sql, parameters) list an operation of
      the mode's `records` becomes, run in the tick's journal transaction;
    - `queries`: name -> dialect -> SELECT, for `store.query(name, params)`
      (positional parameters: "?" on SQLite, "$1" on PostgreSQL; the memory
      store's `memory_query(tables, name, *params)` gets them when given);
    - `refresh`: dialect -> statements run on the store's refresh schedule
      (a materialized view);
    - `memory_apply(tables, op)` / `memory_query(tables, name)`: the same
      over plain dicts, for the in-memory store;
    - `history_details` / `memory_history_details(tables, match_ids)`: the
      detail rows `Mode.history_result` folds into a finished match's result.
    """

    migrations: dict
    statements: Callable
    queries: dict = field(factory=dict)
    refresh: dict = field(factory=dict)
    memory_apply: Callable | None = None
    memory_query: Callable | None = None
    # dialect -> SELECT of the detail rows of some finished matches (each row
    # has a `match` column), for `history.get`: its one parameter is the match
    # ids (SQLite: a JSON array, for `json_each(?)`; PostgreSQL: a text[]).
    history_details: dict = field(factory=dict)
    memory_history_details: Callable | None = None


@frozen
class Board:
    """A leaderboard a mode keeps: `points(event)` gives ((wallet, points), ...)
    for an event whose type is in `events` (nothing for an event that does not
    count, e.g. a cancelled match). The framework adds the points to the
    wallet's score for every period ("all", "week"), exactly once per event
    (a batch written twice does not count twice)."""

    events: frozenset
    points: Callable
    description: str = ""


@frozen
class MatchResult:
    """A finished match for `history.get`, returned by a mode's `records` on
    the tick the match ends: its players (whose histories list it) and a
    JSON-able `result` map. The framework stamps it with the engine time of
    the tick (`ended_at_ms`) and writes it with the tick's journal rows."""

    match: str
    players: tuple = field(converter=tuple)
    result: dict = field(factory=dict)


@frozen
class Page:
    """A web page the mode ships: the static files in `directory` (relative
    to the mode's package; `index.html` among them) are served at
    `/<mode name>/` on the server's port, and the start page lists it by
    `title`. The page talks to the server over the protocol like any
    client; nothing of it runs in the engine."""

    title: str = field(validator=_non_empty)
    directory: str = field(default="web", validator=_non_empty)
    description: str = ""
    # A short link path the mode answers itself ("r": `/r/<rest>`), through
    # `Mode.page_link`: e.g. a referral link that counts a click and sends
    # the browser on to the page. "" = none.
    link: str = ""


@frozen
class Relay:
    """A mode with one big match held by one serving process of a cluster,
    whose broadcast is relayed to watchers on every other process
    (docs/SCALING.md, "One owner, watchers everywhere"). Outside a cluster
    it changes nothing.

    - `match`: the big match's id (what `match.snapshot` names);
    - `events`: the broadcast event types the owner relays (each is relayed
      whoever its recipients, even none);
    - `join`: the request type that makes a wallet a watcher: on another
      process it is answered from the relay (`Mode.relay_view`);
    - `ends`: event types after which every relayed watcher must send
      `join` again (its watch ends with them).

    Every other request of the mode sent to a process that does not hold
    the match is refused with where to send it."""

    match: str
    events: frozenset = field(converter=frozenset)
    join: str
    ends: frozenset = field(converter=frozenset, factory=frozenset)


class Mode:
    name: str = ""
    # One big match, one owner, watchers everywhere (a cluster only): `Relay`.
    relay: Relay | None = None
    tables: Tables | None = None
    buckets: dict = {}  # name -> Bucket
    # Config keys the mode's section took over from elsewhere: (old section,
    # old key) -> key in the mode's section. The old place still works.
    moved_keys: dict = {}
    settings: type | None = None
    inputs: tuple[type, ...] = ()
    effects: dict = {}
    result_keys: dict = {}
    requests: tuple[GameRequest, ...] = ()
    queue_fields: tuple[RequestField, ...] = ()
    # The module holding this mode's part of the whole-server simulation
    # (`arena.sim`): its `PLUGIN` has `bots(world, n)` and
    # `invariants(world, phase)`. A name, not an import, so the mode's own
    # package stays free of the simulator and its bots.
    simulation: str = ""
    # Input types (classes) `route` wants to see, besides connection changes.
    routed_inputs: tuple[type, ...] = ()
    # Side tasks the mode brings for its own effects: side-task name (the
    # name its `effects` give) -> "module:factory", a name so the mode's
    # package imports none of it (the worker does I/O). The server calls
    # `factory(context)` (`context.config`, `.media`, `.store`, `.judge`) once and
    # gets a handler: `await handler.run(effect)` returns the result input
    # (journaled) or None; when it raises, the effect is tried again after
    # `handler.retry_after_s(effect, attempts)` seconds, never dropped.
    # An effect class with `after_durable = True` leaves only once the tick
    # that made it is durable (as money does), so its worker may read the
    # records written with that tick.
    side_tasks: dict = {}
    quiet_events: frozenset = frozenset()
    # True: `on_schedule` is also called when a recurring rule is first seen
    # ("armed"), with `fired.next_ms` its first occurrence: a mode that must
    # act before that occurrence (open a round for the next draw) learns of
    # it at once instead of at the occurrence after.
    schedule_armed: bool = False
    boards: dict = {}  # leaderboard name -> Board
    page: Page | None = None  # the mode's web page, served by the framework

    def setup(self, config):
        return None

    def route(self, ctx, inp) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def input(self, ctx, match, inp) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def tick(self, ctx, match) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def leave(self, ctx, match, wallet: str) -> None:
        pass

    def rejoin(self, ctx, match, wallet: str) -> None:
        pass

    def snapshot(self, ctx, match, wallet: str) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def orphan_input(self, ctx, inp) -> None:
        pass

    def page_link(self, state, rest: str):
        """A browser followed `/<page.link>/<rest>`: (an input to journal or
        None, the location to send it to). Read between ticks, so it must
        change nothing; `rest` is whatever the browser sent (check it). None:
        no such link (404). The framework bounds how many inputs links
        submit, whatever the mode returns."""
        return None

    def resume_views(self, ctx, shared, wallet: str) -> list:
        """[(id, view)]: what a wallet resuming a session whose buffer lost
        some of its events gets as `match.snapshot` events, besides the
        snapshots of the matches it is bound to: views of what it follows
        without being bound (a shared board it watches). Read between ticks,
        so it must change nothing."""
        return []

    def relay_view(self, ctx, shared) -> dict | None:
        """With `relay`: the reply a `join` on another process gets (the big
        match as its watchers see it: what they apply the relayed events
        to), or None while there is nothing to watch. Read between ticks on
        the owner, so it must change nothing; written to Redis at most once
        per cluster heartbeat when the relayed events moved on."""
        return None

    def entry_quote(self, match, wallet: str) -> int:  # pragma: no cover - interface
        from .errors import NOT_ALLOWED, ArenaError

        raise ArenaError(NOT_ALLOWED, f"{self.name} matches take no entry fee")

    def records(self, state, tick: int, messages) -> list:
        """Store operations for one tick's messages: `Record`s (and, for a mode
        whose tables predate `mode_records`, its own operations)."""
        return []

    def mirror_queues(self, shared) -> dict:
        """{queue name: wallets in order} for the Redis mirror."""
        return {}

    def winner_of(self, event) -> str | None:
        return None

    def mirror_ops(self, shared, messages) -> list:
        """Redis mirror operations for one tick's messages, on the mode's own
        keys (relative to the mirror's prefix; `arena.persistence.redis_mirror.
        MODE_OPS` lists the kinds). Called after every tick: cheap when
        nothing of the mode's happened. Never the truth: nothing is read back."""
        return []

    def mirror_state(self, shared) -> list:
        """Every one of the mode's own keys, from its shared state, for a full
        rewrite (Redis back after an outage); may begin with ("clear",
        pattern) to delete keys of what ended meanwhile."""
        return []

    def schedules(self, settings, shared) -> tuple:
        """The calendar rules (`arena.schedule.Rule`) this mode has now, from
        its settings and shared state: recurring ones ("weekly SAT 09:00
        America/New_York") and one-off instants (a round's lock time). The
        scheduler side task reads them between ticks and feeds each
        occurrence back as a journaled `ScheduleFired`; a rule's name is its
        identity (its mark lives under "<mode>:<name>")."""
        return ()

    def on_schedule(self, ctx, shared, fired) -> None:
        """An occurrence of one of this mode's rules (`fired.kind` "on_time"
        or "late"; also "armed" with `schedule_armed`), exactly once per
        occurrence. `fired.next_ms` is the rule's next occurrence (-1: none)."""

    def waiting_wallets(self, shared) -> list[str]:
        return []

    def shared_queue(self, state, wallet: str, body: dict) -> str | None:
        """Shared matchmaking (docs/SCALING.md: several serving processes,
        each its own world, pairing through one Redis queue): the name of the
        shared queue a `queue.join` with this checked body goes to, or None
        when the mode pairs in its own engine only (the default). Raise
        ArenaError to refuse the join as the engine would (a bad tier, a
        wallet already playing in this world). A pair popped from the queue
        reaches the mode's `route` as `MatchPaired(mode, queue, players)`
        in the world of the process that popped it; `pair_size` players."""
        return None

    pair_size: int = 2

    def standing(self, shared) -> dict:
        """{match id: base units its escrow holds by design} for matches that
        never end (a hall keeping viewers' balances); none by default. The
        simulator's final check expects every other match ended and every
        other escrow empty."""
        return {}

    def summary(self, state, match) -> dict:
        """The public summary of a live match for `match.list`: read between
        ticks, so it must be cheap and change nothing. The default reads the
        conventional fields (`phase`, `players`, `watchers`, `created_tick`)."""
        from .clock import now_ms

        return {
            "phase": str(getattr(match, "phase", "")),
            "players": list(getattr(match, "players", ())),
            "watchers": len(getattr(match, "watchers", ())),
            "started_at_ms": now_ms(state, getattr(match, "created_tick", state.tick)),
        }

    def history_result(self, result: dict, rows: list[dict]) -> dict:
        """A finished match's result for `history.get`: the `MatchResult`
        map, completed with its rows of `Tables.history_details` (none by
        default)."""
        return result
