"""Configuration: `config.toml` (plus a few environment variables) in, frozen values out.

Everything is checked before the server starts. An unknown section or key, a
value of the wrong type or out of range, or an unknown `kind` stops start-up
with a `ConfigError` whose message names the file, the section and the key
(or the environment variable), for example::

    config.toml: [<mode>] time_limit_ms must be a positive integer, got "abc"
    config.toml: unknown key [<mode>] rounds_x (known: countdown_ms, ...); did you mean rounds?

The schema is declarative and lives in one place per section:

* sections Arena owns (`[server]`, `[net]`, `[ledger]`, ...) are the frozen
  classes below; each field is declared with `_key(default, rule, env=...,
  mask=...)`, so adding a key is adding one line to its class (and to
  `config.toml` and docs/CONFIG.md, which the tests check);
* sections the engine owns are read off `arena.engine.config.EngineConfig`
  (`[engine]`) and off each registered mode's settings class (`[<mode>]`, a
  dict field as `[<mode>.<field>]`), checked with their own validators, so a
  mode's setting is configurable as soon as it exists there. Modules named by
  `[server] mode_modules` are imported first, so the modes they register
  have their sections.

Secrets (the OpenAI API key, the escrow keypair's contents) are never read
into the configuration. Values that may carry credentials (S3 keys, the
PostgreSQL DSN, the Redis and RPC URLs) are masked in `repr()` and in
`describe()`, which gives a dict that is safe to log.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import attrs
from attrs import field, frozen

from arena.engine.config import CONFIG_ITEMS, EngineConfig
from arena.engine.registry import registry
from arena.feeds.breaker import BreakerConfig
from arena.feeds.consensus import RULES as FEED_RULES
from arena.feeds.draw_formats import FORMATS as FEED_FORMATS
from arena.feeds.simulated import KINDS as SIMULATED_FEEDS

__all__ = [
    "AIConfig",
    "ArenaConfig",
    "ConfigError",
    "FeedConfig",
    "FeedSourceConfig",
    "FeedsConfig",
    "LedgerConfig",
    "MediaConfig",
    "NetConfig",
    "RedisConfig",
    "ClusterConfig",
    "ServerConfig",
    "StoreConfig",
    "TipsConfig",
    "ScheduleConfig",
    "ENV_OVERRIDES",
    "describe",
    "default_config",
    "load_config",
]

DEFAULT_PATH = "config.toml"
DEFAULTS_SOURCE = "<defaults>"


class ConfigError(Exception):
    """The configuration is unusable. `str(exc)` says why, naming the key;
    `exc.errors` lists every problem found (one line each)."""

    def __init__(self, errors: str | list[str] | tuple[str, ...]):
        self.errors = (errors,) if isinstance(errors, str) else tuple(errors)
        super().__init__("\n".join(self.errors))


# ---------------------------------------------------------------------------
# Rules: what a good value is.


def _has_type(value: Any, typ: type) -> bool:
    if typ is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):  # bools are not ints (nor floats)
        return False
    if typ is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, typ)


@frozen
class Rule:
    """A value's type and the test it must pass; `text` completes "must be ..."."""

    type: type
    text: str
    test: Callable[[Any], bool] = lambda value: True

    def accepts(self, value: Any) -> bool:
        if not _has_type(value, self.type):
            return False
        try:
            return bool(self.test(value))
        except (TypeError, ValueError):
            return False


def _choice(*choices: str) -> Rule:
    return Rule(str, "one of " + ", ".join(json.dumps(c) for c in choices), lambda v: v in choices)


def _url(*schemes: str) -> Rule:
    prefixes = tuple(f"{s}://" for s in schemes)
    text = '"" (unset) or a URL starting with ' + " or ".join(prefixes)
    return Rule(str, text, lambda v: v == "" or v.lower().startswith(prefixes))


POSITIVE = Rule(int, "a positive integer", lambda v: v > 0)
NON_NEGATIVE = Rule(int, "a non-negative integer", lambda v: v >= 0)
BPS = Rule(int, "an integer 0..10000 (basis points)", lambda v: 0 <= v <= 10_000)
PORT = Rule(int, "a port number 0..65535 (0 = any free port)", lambda v: 0 <= v <= 65_535)
PORT_OR_OFF = Rule(int, "a port number 1..65535, or 0 (off)", lambda v: 0 <= v <= 65_535)
TEXT = Rule(str, "a string")
NAME = Rule(str, "a non-empty string", lambda v: v.strip() != "")
BOOL = Rule(bool, "true or false")
TEMPERATURE = Rule(float, "a number 0..2", lambda v: 0 <= v <= 2)


def _is_zone(value: str) -> bool:
    from arena.engine.periods import zone

    try:
        zone(value)
    except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError, a bad path
        return False
    return True


ZONE = Rule(str, 'an IANA time zone name ("UTC", "Europe/Paris", ...)', _is_zone)


# ---------------------------------------------------------------------------
# Masks: how a value that may hold a credential is shown.


def _hide(value: str) -> str:
    return "***" if value else ""


def _mask_url(value: str) -> str:
    """Hide a URL's password and query values (`redis://u:***@host/0`)."""
    if not value:
        return value
    try:
        parts = urlsplit(value)
        netloc = parts.netloc
        if parts.password is not None:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.split(':', 1)[0]}:***@{host}"
        query = "&".join(f"{k}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "***"


def _mask_origin(value: str) -> str:
    """Show only scheme://host[:port]: RPC providers put API keys in paths and queries."""
    if not value:
        return value
    try:
        parts = urlsplit(value)
        host = parts.netloc.rpartition("@")[2]
        rest = "/***" if (parts.path.strip("/") or parts.query) else ""
        return f"{parts.scheme}://{host}{rest}"
    except ValueError:
        return "***"


def _show(value: Any, mask: Callable[[str], str] | None = None) -> str:
    """A value as it would be written in TOML, masked if it may be secret."""
    if isinstance(value, str):
        return json.dumps(mask(value) if mask else value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


# ---------------------------------------------------------------------------
# Declaring keys of the sections Arena owns.

_META = "arena.config"


@frozen
class _Meta:
    rule: Rule
    env: str | None = None
    mask: Callable[[str], str] | None = None


def _to_float(value: Any) -> Any:
    return float(value) if type(value) is int else value


def _key(default: Any, rule: Rule, *, env: str | None = None, mask: Callable[[str], str] | None = None):
    """One configuration key: its default, its rule, and optionally the
    environment variable that overrides it and how to mask it when shown."""

    def check(inst, attribute, value):
        if not rule.accepts(value):
            raise ValueError(f"{attribute.name} must be {rule.text}, got {_show(value, mask)}")

    return field(
        default=default,
        validator=check,
        converter=_to_float if rule.type is float else None,
        repr=(lambda v: repr(mask(v))) if mask else True,
        metadata={_META: _Meta(rule, env, mask)},
    )


@frozen
class ServerConfig:
    host: str = _key("127.0.0.1", NAME, env="ARENA_HOST")
    port: int = _key(8765, PORT, env="ARENA_PORT")
    tick_hz: int = _key(20, POSITIVE)
    name: str = _key("arena", NAME)
    metrics_port: int = _key(0, PORT_OR_OFF)
    # Python modules to import at start, comma-separated: each registers modes
    # (arena.engine.registry) besides the built-in ones.
    mode_modules: str = _key("", TEXT, env="ARENA_MODE_MODULES")
    # The domain Sign-In With Solana messages must name (auth.siws); the hello reply carries it.
    domain: str = _key("localhost", NAME, env="ARENA_DOMAIN")
    # Engine time (`ctx.now_ms`) is re-anchored on the wall clock, with a
    # journaled input, when it has fallen this far behind.
    clock_tolerance_ms: int = _key(250, POSITIVE)
    # `health:update` (every side task's and breaker's state) to operator
    # sessions this often; 0 = never.
    health_push_ms: int = _key(5_000, NON_NEGATIVE)
    # Serve the web pages (the start page, each mode's page, the bundled SDK)
    # over HTTP on `port`, beside the protocol at /v1.
    pages: bool = _key(True, BOOL, env="ARENA_PAGES")
    # Step a request as soon as it arrives (into the tick being formed) and
    # send its reply after the socket batch it came in, instead of waiting
    # for the next tick boundary. The journal and replay are the same either
    # way: the tick's inputs in arrival order, then its timers.
    apply_on_arrival: bool = _key(True, BOOL, env="ARENA_APPLY_ON_ARRIVAL")


@frozen
class NetConfig:
    max_frame_bytes: int = _key(1_048_576, POSITIVE)
    max_plain_frame_bytes: int = _key(65_536, POSITIVE)
    bad_frames_before_close: int = _key(10, POSITIVE)
    bad_frame_window_ms: int = _key(60_000, POSITIVE)
    send_queue_frames: int = _key(256, POSITIVE)
    event_buffer: int = _key(2048, POSITIVE)
    event_buffer_bytes: int = _key(8192, POSITIVE)
    session_ttl_ms: int = _key(300_000, POSITIVE)
    requests_per_s: int = _key(50, POSITIVE)
    request_burst: int = _key(100, POSITIVE)
    max_audio_bytes: int = _key(1_000_000, POSITIVE)
    # Hostile clients (docs/CONFIG.md "[net]"): decoding, input, output, lifecycle.
    max_depth: int = _key(16, POSITIVE)
    max_containers: int = _key(1024, POSITIVE)
    max_container_items: int = _key(1024, POSITIVE)
    invalid_requests_before_close: int = _key(50, POSITIVE)
    send_queue_bytes: int = _key(1_048_576, POSITIVE)
    write_timeout_ms: int = _key(10_000, POSITIVE)
    frame_timeout_ms: int = _key(10_000, POSITIVE)
    max_buffered_input_bytes: int = _key(67_108_864, POSITIVE)
    handshake_timeout_ms: int = _key(10_000, POSITIVE)
    login_timeout_ms: int = _key(30_000, NON_NEGATIVE)
    idle_timeout_ms: int = _key(60_000, NON_NEGATIVE)
    max_connections: int = _key(10_000, POSITIVE)
    max_connections_per_address: int = _key(1024, NON_NEGATIVE)
    max_handshake_bytes: int = _key(8192, POSITIVE)
    max_replies_per_tick: int = _key(1024, POSITIVE)
    # Read requests (match.list, leaderboard.get, history.get, profile.get,
    # profile.set) also take from a per-connection bucket of their own, so a
    # client cannot keep the store busy with reads.
    reads_per_s: int = _key(20, POSITIVE)
    reads_burst: int = _key(40, POSITIVE)


@frozen
class LedgerConfig:
    kind: str = _key("embedded", _choice("embedded", "solana", "bsv"), env="ARENA_LEDGER_KIND")
    faucet_amount: int = _key(0, NON_NEGATIVE)
    rpc_url: str = _key("", _url("http", "https"), mask=_mask_origin)
    mint: str = _key("", TEXT)
    escrow_keypair: str = _key("", TEXT, env="ARENA_ESCROW_KEYPAIR")  # a file path, never the key
    fee_creator: str = _key("", TEXT)
    fee_partner: str = _key("", TEXT)
    fee_protocol: str = _key("", TEXT)
    commitment: str = _key("confirmed", _choice("processed", "confirmed", "finalized"))
    # solana: the local record of payments and payouts; "" = solana-ledger.sqlite
    # beside the [store] path (see arena.chain.solana.records_path)
    records_path: str = _key("", TEXT)
    # solana, bsv: where the record store is: "file" (records_path) or "store"
    # (tables of the world's PostgreSQL schema, fenced like its other writes,
    # so a world taken over by another node carries them; arena.chain.pg_records)
    records: str = _key("file", _choice("file", "store"))
    # solana, bsv: the world id (or "unbound") whose records this world may take over
    adopt_records: str = _key("", TEXT)
    # bsv: the ARC broadcaster and the WhatsOnChain-style index (docs/BSV.md)
    arc_url: str = _key("", _url("http", "https"), mask=_mask_origin)
    arc_api_key: str = _key("", TEXT, env="ARENA_BSV_ARC_API_KEY", mask=_hide)
    woc_url: str = _key("", _url("http", "https"), mask=_mask_origin)
    bsv_network: str = _key("main", _choice("main", "test"))
    # bsv: the escrow key as WIF; best given as ARENA_BSV_ESCROW_WIF, never logged
    escrow_wif: str = _key("", TEXT, env="ARENA_BSV_ESCROW_WIF", mask=_hide)
    # bsv: when a payment counts: "seen" (accepted by the network) or "mined"
    bsv_commitment: str = _key("seen", _choice("seen", "mined"))
    # bsv: the network fee the platform pays, satoshis per 1000 bytes (ARC's policy if higher)
    fee_sat_per_kb: int = _key(50, NON_NEGATIVE)


@frozen
class AIConfig:
    kind: str = _key("embedded", _choice("embedded", "openai"), env="ARENA_AI_KIND")
    base_url: str = _key("", _url("http", "https"), mask=_mask_url)
    model: str = _key("gpt-4o-mini", NAME)
    transcription_model: str = _key("whisper-1", NAME)
    moderation: bool = _key(False, BOOL)
    temperature: float = _key(0.9, TEMPERATURE)
    timeout_ms: int = _key(8000, POSITIVE)
    max_retries: int = _key(2, NON_NEGATIVE)
    circuit_failures: int = _key(5, POSITIVE)
    circuit_reset_ms: int = _key(30_000, POSITIVE)


@frozen
class MediaConfig:
    kind: str = _key("local", _choice("local", "s3"))
    path: str = _key("var/media", NAME)
    base_url: str = _key("", TEXT)
    bucket: str = _key("", TEXT)
    endpoint: str = _key("", _url("http", "https"))
    access_key: str = _key("", TEXT, mask=_hide)
    secret_key: str = _key("", TEXT, mask=_hide)
    region: str = _key("", TEXT)


@frozen
class StoreConfig:
    kind: str = _key("embedded", _choice("embedded", "postgres"), env="ARENA_STORE_KIND")
    path: str = _key("var/arena.sqlite", NAME, env="ARENA_STORE_PATH")
    dsn: str = _key("", _url("postgres", "postgresql"), env="ARENA_STORE_DSN", mask=_mask_url)
    snapshot_every_ticks: int = _key(1200, POSITIVE)
    keep_snapshots: int = _key(60, NON_NEGATIVE)
    journal_buffer_max: int = _key(100_000, POSITIVE)


@frozen
class RedisConfig:
    url: str = _key("", _url("redis", "rediss", "unix"), env="ARENA_REDIS_URL", mask=_mask_url)
    key_prefix: str = _key("", TEXT)


@frozen
class ClusterConfig:
    # This node's name. Empty: a single node, whose PostgreSQL store is held
    # by a session advisory lock. Set: the store is held under a lease with a
    # fencing epoch (docs/SCALING.md), so another node can take it over when
    # this one stops renewing, and this one can then write nothing more.
    node: str = _key("", TEXT, env="ARENA_NODE")
    # A lease not renewed for this long may be taken over; it is renewed
    # every third of it.
    lease_ttl_ms: int = _key(5000, POSITIVE)
    # With `[redis] url` as well, the serving processes act as one cluster
    # (docs/SCALING.md): this process's WebSocket URL as clients reach it,
    # put in the registry, the match directory and seat reservations.
    # Empty: ws://<[server] host>:<the port it listens on>/v1.
    advertise: str = _key("", _url("ws", "wss"), env="ARENA_ADVERTISE")
    # The registry's heartbeat: entries live three heartbeats unless refreshed.
    heartbeat_ms: int = _key(1000, POSITIVE)
    # How long a seat reservation of `match.found` may be claimed (`auth.seat`).
    seat_ttl_ms: int = _key(15_000, POSITIVE)
    # The shard world this process serves, when a node runs several
    # (`serve --workers` sets it per worker): the process is `<node>/<shard>`
    # in the cluster's registry. Empty: the process is `<node>`.
    shard: str = _key("", TEXT)
    # How many shard worlds the cluster's PostgreSQL holds (schemas
    # `<schema>_s0` .. `<schema>_s<shards-1>`), each served by one worker
    # process at a time (`serve --workers`, docs/SCALING.md). 0: not sharded,
    # one world in `<schema>` itself.
    shards: int = _key(0, NON_NEGATIVE)
    # Worker processes per node that serve no shard yet and claim the first
    # shard whose lease has expired (another worker's or node's).
    standby_workers: int = _key(1, NON_NEGATIVE)


@frozen
class TipsConfig:
    fee_bps: int = _key(200, BPS)


FEED_KINDS = ("simulated", "http")
_BREAKER = BreakerConfig()


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
HEADERS = Rule(dict, 'a table of header names to strings ("env:NAME" reads the environment variable NAME)',
               lambda v: all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()))


def _header_pairs(value) -> tuple:
    """A source's `headers` as sorted (name, value) pairs; ValueError names
    the header (never its value) when one is not a header, or its value not
    one line, or still an "env:" reference (`load_config` resolves those)."""
    items = value.items() if isinstance(value, dict) else value
    out = {}
    for name, raw in items:
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"headers: {str(name)[:64]!r} is not a header name")
        if not isinstance(raw, str) or len(raw) > 4096 or any(c in raw for c in "\r\n\0"):
            raise ValueError(f"headers: the value of {name} must be one line of at most 4096 characters")
        if raw.startswith("env:"):
            raise ValueError(f"headers: {name} names an environment variable that was not read")
        out[name] = raw
    return tuple(sorted(out.items()))


def _env_headers(table: Mapping[str, Any], env: Mapping[str, str]) -> dict:
    """A `headers` table with each "env:NAME" value read from `env`;
    ValueError (naming the header and the variable) when one is unset."""
    out = {}
    for name, raw in table.items():
        if isinstance(raw, str) and raw.startswith("env:"):
            var = raw[4:]
            if not var or var not in env:
                raise ValueError(f"headers: {name} reads the environment variable {var!r}, which is not set")
            raw = env[var]
        out[name] = raw
    return out


def _shown_headers(pairs) -> dict:
    """How a source's headers are shown (`describe`): names, never values
    (a value that is not a table of headers: not at all)."""
    if isinstance(pairs, str):
        return "***"
    return {name: "***" for name, _ in pairs}


def _hide_headers(pairs) -> str:
    return repr(_shown_headers(pairs))


@frozen
class FeedSourceConfig:
    """One HTTP source of a feed: an entry of `[feeds.<feed>] sources`."""

    name: str = _key("", NAME)
    # `{name}` placeholders are filled from the fetch's query; may carry an
    # API key, so it is masked when shown.
    url: str = _key("", Rule(str, "a URL starting with http:// or https://",
                             lambda v: v.lower().startswith(("http://", "https://"))), mask=_mask_url)
    # "json": the value is at value_path; else a publisher's result format
    # (arena.feeds.draw_formats), which needs no value_path.
    format: str = _key("json", _choice("json", *FEED_FORMATS))
    value_path: str = _key("", TEXT)  # required by "json"
    time_path: str = _key("", TEXT)  # "" = the source gives no timestamp
    time_unit: str = _key("s", _choice("s", "ms"))
    timeout_ms: int = _key(0, NON_NEGATIVE)  # 0 = the feed's timeout_ms
    # Request headers (API keys: Birdeye's X-API-KEY, CoinGecko's
    # x-cg-pro-api-key): header name -> value, where "env:NAME" is read from
    # the environment variable NAME when the config is loaded (so no secret
    # is in a file).
    # Kept as sorted (name, value) pairs; values are never shown or logged.
    headers: tuple = field(default=(), converter=lambda v: _header_pairs(v), repr=_hide_headers,
                           metadata={_META: _Meta(HEADERS, None, _shown_headers)})

    def __attrs_post_init__(self) -> None:
        if self.format == "json" and not self.value_path.strip():
            raise ValueError('value_path must be a non-empty string when format is "json"')


def _sources(value) -> tuple:
    return tuple(value)


@frozen
class FeedConfig:
    """One `[feeds.<feed>]` table: how the feed is fetched and decided."""

    kind: str = _key("", _choice("", *FEED_KINDS))  # "" = [feeds] kind
    simulate: str = _key("", _choice("", *SIMULATED_FEEDS))  # "" = the feed's name
    consensus: str = _key("agree", _choice(*FEED_RULES))
    k: int = _key(1, POSITIVE)
    max_deviation_bps: int = _key(200, BPS)
    max_age_ms: int = _key(0, NON_NEGATIVE)  # 0 = answers never go stale
    min_sources: int = _key(1, POSITIVE)
    decimals: int = _key(0, Rule(int, "an integer 0..18", lambda v: 0 <= v <= 18))
    deadline_ms: int = _key(30_000, POSITIVE)
    timeout_ms: int = _key(5_000, POSITIVE)
    retry_ms: int = _key(1_000, POSITIVE)
    # Circuit breakers of the feed and of each of its sources (the defaults are
    # arena.feeds.breaker's, DegenDuel's).
    failure_threshold: int = _key(_BREAKER.failure_threshold, POSITIVE)
    reset_s: int = _key(_BREAKER.reset_s, POSITIVE)
    min_healthy_s: int = _key(_BREAKER.min_healthy_s, POSITIVE)
    window_s: int = _key(_BREAKER.window_s, POSITIVE)
    health_check_s: int = _key(_BREAKER.health_check_s, POSITIVE)
    sources: tuple = field(default=(), converter=_sources)


@frozen
class FeedsConfig:
    """`[feeds]`: the default kind, and the `[feeds.<feed>]` tables by name."""

    kind: str = _key("simulated", _choice(*FEED_KINDS))
    feeds: dict = field(factory=dict)

    def feed(self, name: str) -> FeedConfig | None:
        """The feed's config with its kind resolved, or None for a feed with
        no table that the default kind cannot serve either."""
        table = self.feeds.get(name)
        if table is None:
            if self.kind == "simulated" and name in SIMULATED_FEEDS:
                return FeedConfig(kind="simulated", simulate=name)
            return None
        if table.kind == "":
            table = attrs.evolve(table, kind=self.kind)
        if table.kind == "simulated" and table.simulate == "":
            table = attrs.evolve(table, simulate=name)
        return table


@frozen
class ScheduleConfig:
    # How often the scheduler side task looks for due occurrences.
    poll_ms: int = _key(250, POSITIVE)
    # An occurrence older than this when found was missed (the server was
    # down or stalled): the rule's `missed` policy decides (late or skip).
    late_after_ms: int = _key(60_000, POSITIVE)


@frozen
class LeaderboardsConfig:
    # Weekly boards start Monday 00:00 in this zone.
    week_zone: str = _key("UTC", ZONE)


@frozen
class ProfilesConfig:
    # An avatar (profile.set) is at most this many bytes, and at most this many
    # pixels wide and high; it must decode as PNG, JPEG, WebP or GIF.
    max_avatar_bytes: int = _key(262_144, POSITIVE)
    max_avatar_pixels: int = _key(1024, POSITIVE)


@frozen
class ArenaConfig:
    server: ServerConfig = field(factory=ServerConfig)
    net: NetConfig = field(factory=NetConfig)
    # seed 0: a random seed when the world is created (see [engine] seed).
    engine: EngineConfig = field(factory=lambda: EngineConfig(seed=0))
    ledger: LedgerConfig = field(factory=LedgerConfig)
    ai: AIConfig = field(factory=AIConfig)
    media: MediaConfig = field(factory=MediaConfig)
    store: StoreConfig = field(factory=StoreConfig)
    redis: RedisConfig = field(factory=RedisConfig)
    cluster: ClusterConfig = field(factory=ClusterConfig)
    tips: TipsConfig = field(factory=TipsConfig)
    schedule: ScheduleConfig = field(factory=ScheduleConfig)
    feeds: FeedsConfig = field(factory=FeedsConfig)
    leaderboards: LeaderboardsConfig = field(factory=LeaderboardsConfig)
    profiles: ProfilesConfig = field(factory=ProfilesConfig)
    # Each mode's rate buckets: (mode, bucket) -> (per second, burst), from
    # `[<mode>] <bucket>_per_s` / `<bucket>_burst` (`Mode.buckets`).
    buckets: dict = field(factory=lambda: default_buckets())
    source: str = DEFAULTS_SOURCE  # the file read, or "<defaults>"


# ---------------------------------------------------------------------------
# The schema: section -> key -> (rule, default, env, mask).


@frozen
class _Key:
    section: str
    name: str
    rule: Rule
    default: Any
    env: str | None = None
    mask: Callable[[str], str] | None = None


@frozen
class _Section:
    name: str
    keys: dict[str, _Key]
    read: Callable[[ArenaConfig, str], Any]  # the value of a key in a built config
    complete: bool = False  # if the table is given at all, every key must be in it


def _owned(name: str, cls: type) -> _Section:
    keys = {}
    for a in attrs.fields(cls):
        if _META not in a.metadata:
            continue  # read its own way (the `[feeds.<feed>]` tables)
        meta: _Meta = a.metadata[_META]
        keys[a.name] = _Key(name, a.name, meta.rule, a.default, meta.env, meta.mask)
    return _Section(name, keys, lambda cfg, key: getattr(getattr(cfg, name), key))


_TYPES = {"int": int, "str": str, "bool": bool, int: int, str: str, bool: bool}


def _engine_rule(cls: type, attribute: attrs.Attribute) -> Rule:
    """A rule that runs the engine's own attrs validator."""
    validator = attribute.validator

    def test(value):
        if validator is not None:
            validator(None, attribute, value)
        return True

    text = f"valid for {cls.__name__}.{attribute.name}"
    if validator is not None:
        try:
            validator(None, attribute, None)
        except (TypeError, ValueError) as exc:
            m = re.search(r"must be (.*?)(?:, got .*)?$", str(exc))
            if m:
                text = m.group(1)
    return Rule(_TYPES[attribute.type], text, test)


def _default(attribute: attrs.Attribute) -> Any:
    d = attribute.default
    return d.factory() if isinstance(d, attrs.Factory) else d


# What a settings class's dict field (a `[<mode>.<field>]` table) holds comes
# from the field's metadata (`CONFIG_ITEMS`); without it, any integer.
ITEMS = CONFIG_ITEMS


def _engine_sections() -> list[_Section]:
    seed = attrs.fields(EngineConfig).seed
    engine = _Section(
        "engine",
        # 0: a random seed when the world is created (the engine's own default,
        # 1, is for tests that want fixed ids).
        {"seed": _Key("engine", "seed", _engine_rule(EngineConfig, seed), 0)},
        lambda cfg, key: getattr(cfg.engine, key),
    )
    sections = [engine]
    for name, mode in registry.modes().items():
        cls = mode.settings
        if cls is None:
            continue
        keys = {a.name: _Key(name, a.name, _engine_rule(cls, a), _default(a))
                for a in attrs.fields(cls) if a.type in _TYPES}
        for bucket, b in mode.buckets.items():
            keys[f"{bucket}_per_s"] = _Key(name, f"{bucket}_per_s", POSITIVE, b.per_s)
            keys[f"{bucket}_burst"] = _Key(name, f"{bucket}_burst", POSITIVE, b.burst)
        sections.append(_Section(name, keys, lambda cfg, key, n=name: _mode_value(cfg, n, key)))
        for a in attrs.fields(cls):
            if a.type not in ("dict", dict):
                continue
            typ, text, test = a.metadata.get(ITEMS, (int, "an integer", lambda v: True))
            items = _default(a)
            sub = f"{name}.{a.name}"
            sections.append(_Section(
                sub, {k: _Key(sub, k, Rule(typ, text, test), v) for k, v in items.items()},
                lambda cfg, key, n=name, f=a.name: getattr(cfg.engine.modes[n], f)[key],
                complete=True))
    return sections


def _build_schema() -> dict[str, _Section]:
    engine, *modes = _engine_sections()
    sections = [
        _owned("server", ServerConfig),
        _owned("net", NetConfig),
        engine,
        *modes,
        _owned("ledger", LedgerConfig),
        _owned("ai", AIConfig),
        _owned("media", MediaConfig),
        _owned("store", StoreConfig),
        _owned("redis", RedisConfig),
        _owned("cluster", ClusterConfig),
        _owned("tips", TipsConfig),
        _owned("schedule", ScheduleConfig),
        _owned("feeds", FeedsConfig),
        _owned("leaderboards", LeaderboardsConfig),
        _owned("profiles", ProfilesConfig),
    ]
    return {s.name: s for s in sections}


def _mode_value(cfg, mode: str, key: str):
    """A key of `[<mode>]` in a built config: a bucket's rate or a setting."""
    for (m, bucket), (per_s, burst) in cfg.buckets.items():
        if m == mode and key in (f"{bucket}_per_s", f"{bucket}_burst"):
            return per_s if key.endswith("_per_s") else burst
    return getattr(cfg.engine.modes[mode], key)


def default_buckets() -> dict:
    """Every registered mode's rate buckets at their defaults."""
    return {(name, b): (v.per_s, v.burst) for name, mode in registry.modes().items() for b, v in mode.buckets.items()}


def bucket_rate(cfg, mode: str, bucket: str) -> tuple[int, int]:
    """(per second, burst) of a mode's rate bucket: as `cfg` (an ArenaConfig,
    or None) configures it, else the mode's default (`Mode.buckets`)."""
    found = getattr(cfg, "buckets", {}).get((mode, bucket))
    if found is not None:
        return found
    b = registry.get(mode).buckets[bucket]
    return b.per_s, b.burst


def _moved_keys() -> dict[tuple[str, str], tuple[str, str]]:
    """(old section, old key) -> (mode section, key), from `Mode.moved_keys`."""
    return {old: (name, new) for name, mode in registry.modes().items() for old, new in mode.moved_keys.items()}


class _Schema(Mapping):
    """Section name -> `_Section`, rebuilt when a mode registers (the registry's
    modes are the engine sections)."""

    def __init__(self) -> None:
        self._built: dict[str, _Section] | None = None
        self._for: tuple = ()

    def _now(self) -> dict[str, _Section]:
        modes = tuple(registry.modes())
        if self._built is None or modes != self._for:
            self._built, self._for = _build_schema(), modes
        return self._built

    def __getitem__(self, name):
        return self._now()[name]

    def __iter__(self):
        return iter(self._now())

    def __len__(self):
        return len(self._now())


SCHEMA = _Schema()

def env_overrides() -> dict[str, tuple[str, str]]:
    """Environment variable -> (section, key) it overrides."""
    return {k.env: (s.name, k.name) for s in SCHEMA.values() for k in s.keys.values() if k.env}


ENV_OVERRIDES = env_overrides()
"""Environment variable -> (section, key) it overrides (the built-in sections')."""

# When a kind is chosen, these keys must not be empty.
_NEEDS = {
    ("ledger", "solana"): ("rpc_url", "mint"),
    ("store", "postgres"): ("dsn",),
    ("media", "s3"): ("bucket",),
}
# (section, key) must not exceed (section, key).
_NOT_ABOVE = (
    (("net", "max_plain_frame_bytes"), ("net", "max_frame_bytes")),
    (("net", "max_audio_bytes"), ("net", "max_frame_bytes")),
    (("profiles", "max_avatar_bytes"), ("net", "max_frame_bytes")),
    (("net", "max_depth"), ("net", "max_containers")),
    (("net", "max_frame_bytes"), ("net", "max_buffered_input_bytes")),
)


# ---------------------------------------------------------------------------
# Loading.


def load_config_or_say_why(path: str | os.PathLike) -> ArenaConfig | None:
    """For commands: the config, or None after printing why it cannot be
    loaded (`arena: <path>: <problem>` on stderr; the command exits 2)."""
    import sys

    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"arena: {exc}", file=sys.stderr)
        return None


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> ArenaConfig:
    """Read `path` (default ./config.toml), apply the environment overrides
    (from `env`, default `os.environ`), check everything, and return the
    frozen configuration. Raises ConfigError naming the offending key."""
    label = os.fspath(DEFAULT_PATH if path is None else path)
    file = Path(label)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{label}: no such file (working directory {os.getcwd()}); "
            "pass --config PATH, or start from the repository's config.toml"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a directory, not a config file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: not valid TOML: {exc}") from None
    return _build(data, label, os.environ if env is None else env)


def default_config() -> ArenaConfig:
    """The built-in defaults (embedded everything); reads no file and no environment."""
    return _build({}, DEFAULTS_SOURCE, {})


def _import_mode_modules(data: Mapping[str, Any], label: str, env: Mapping[str, str]) -> None:
    """Import `[server] mode_modules` (or ARENA_MODE_MODULES) before the schema
    is read, so the modes they register have their config sections."""
    import importlib

    raw = env.get("ARENA_MODE_MODULES")
    where = "environment: ARENA_MODE_MODULES"
    if raw is None:
        server = data.get("server")
        raw = server.get("mode_modules", "") if isinstance(server, dict) else ""
        where = f"{label}: [server] mode_modules"
    if not isinstance(raw, str):
        return  # the rule check reports it
    for name in filter(None, (part.strip() for part in raw.split(","))):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported as a config error
            raise ConfigError(f"{where}: cannot import {name!r}: {type(exc).__name__}: {exc}") from None


def _build(data: Mapping[str, Any], label: str, env: Mapping[str, str]) -> ArenaConfig:
    errors: list[str] = []
    _import_mode_modules(data, label, env)
    data, feed_tables = _split_feed_tables(data)
    given = _from_file(data, label, errors)
    given |= _from_env(env)

    values = {name: {k: key.default for k, key in s.keys.items()} for name, s in SCHEMA.items()}
    for (sec, name), (value, where) in given.items():
        key = SCHEMA[sec].keys[name]
        if key.rule.accepts(value):
            values[sec][name] = _to_float(value) if key.rule.type is float else value
        else:
            errors.append(f"{where} must be {key.rule.text}, got {_show(value, key.mask)}")
    feeds = _feeds(values["feeds"]["kind"], feed_tables, label, errors, env)
    if errors:
        raise ConfigError(errors)

    errors.extend(_cross_checks(values, given, label))
    if errors:
        raise ConfigError(errors)

    modes, buckets = {}, {}
    for name, mode in registry.modes().items():
        for bucket in mode.buckets:
            buckets[(name, bucket)] = (values[name].pop(f"{bucket}_per_s"), values[name].pop(f"{bucket}_burst"))
        cls = mode.settings
        if cls is None:
            continue
        kwargs = dict(values[name])
        for sub in values:  # its dict fields' tables: [<mode>.<field>]
            if sub.startswith(f"{name}."):
                kwargs[sub[len(name) + 1:]] = dict(values[sub])
        try:
            modes[name] = cls(**kwargs)
        except (TypeError, ValueError) as exc:
            errors.append(_engine_error(exc, label, name))
    if errors:
        raise ConfigError(errors)
    try:
        engine = EngineConfig(tick_hz=values["server"]["tick_hz"], modes=modes, **values["engine"])
    except (TypeError, ValueError) as exc:
        raise ConfigError(_engine_error(exc, label, "engine")) from None
    try:
        return ArenaConfig(
            server=ServerConfig(**values["server"]),
            net=NetConfig(**values["net"]),
            engine=engine,
            ledger=LedgerConfig(**values["ledger"]),
            ai=AIConfig(**values["ai"]),
            media=MediaConfig(**values["media"]),
            store=StoreConfig(**values["store"]),
            redis=RedisConfig(**values["redis"]),
            cluster=ClusterConfig(**values["cluster"]),
            tips=TipsConfig(**values["tips"]),
            schedule=ScheduleConfig(**values["schedule"]),
            feeds=feeds,
            leaderboards=LeaderboardsConfig(**values["leaderboards"]),
            profiles=ProfilesConfig(**values["profiles"]),
            buckets=buckets,
            source=label,
        )
    except (TypeError, ValueError) as exc:  # a class check the schema does not know about
        raise ConfigError(f"{label}: {exc}") from None


def _from_file(data: Mapping[str, Any], label: str, errors: list[str]) -> dict:
    """(section, key) -> (value, "where it was set") for every key in the file;
    unknown sections and keys, and incomplete tables, go to `errors`."""
    given: dict[tuple[str, str], tuple[Any, str]] = {}
    top = [name for name in SCHEMA if "." not in name]

    moved = _moved_keys()

    def walk(sec_name: str, table: Mapping[str, Any]) -> None:
        section = SCHEMA[sec_name]
        subsections = {n.rpartition(".")[2]: n for n in SCHEMA if n.rpartition(".")[0] == sec_name}
        for k, value in table.items():
            if k in section.keys:
                given[(sec_name, k)] = (value, f"{label}: [{sec_name}] {k}")
            elif (sec_name, k) in moved:  # its old place still works; the new one wins
                new = moved[(sec_name, k)]
                given.setdefault(new, (value, f"{label}: [{sec_name}] {k} (now [{new[0]}] {new[1]})"))
            elif k in subsections:
                if isinstance(value, dict):
                    walk(subsections[k], value)
                else:
                    errors.append(f"{label}: [{sec_name}] {k} must be a table ([{subsections[k]}]), got {_show(value)}")
            else:
                known = sorted([*section.keys, *subsections])
                errors.append(
                    f"{label}: unknown key [{sec_name}] {k} (known: {', '.join(known)})" + _hint(k, known, sec_name)
                )
        if section.complete:
            for k in section.keys:
                if k not in table:
                    errors.append(
                        f"{label}: [{sec_name}] {k} is missing "
                        f"([{sec_name}] must list every one of {', '.join(section.keys)})"
                    )

    for name, value in data.items():
        if name not in top:
            known = ", ".join(sorted(top))
            errors.append(f"{label}: unknown section [{name}] (known: {known})" + _hint(name, top, None))
        elif not isinstance(value, dict):
            errors.append(f"{label}: {name} must be a table ([{name}]), got {_show(value)}")
        else:
            walk(name, value)
    return given


# --- [feeds.<feed>]: tables named by the operator, so read apart from SCHEMA.


def _split_feed_tables(data: Mapping[str, Any]) -> tuple[Mapping[str, Any], dict]:
    """(the file without the `[feeds.<feed>]` tables, those tables by feed name).

    A feed's name is the operator's choice, so its table cannot be a fixed
    SCHEMA section; every table inside `[feeds]` is a feed."""
    feeds = data.get("feeds")
    if not isinstance(feeds, dict):
        return data, {}
    tables = {k: v for k, v in feeds.items() if isinstance(v, dict)}
    rest = {k: v for k, v in feeds.items() if k not in tables}
    return {**data, "feeds": rest}, tables


def _owned_keys(cls: type) -> dict[str, _Meta]:
    return {a.name: a.metadata[_META] for a in attrs.fields(cls) if _META in a.metadata}


def _check_table(table: Mapping[str, Any], cls: type, where: str, errors: list[str],
                 extra: tuple[str, ...] = ()) -> dict:
    """The keys of `table` that `cls` declares, each checked against its rule;
    unknown keys and bad values go to `errors`, addressed to `where`."""
    metas = _owned_keys(cls)
    known = sorted([*metas, *extra])
    out = {}
    for k, value in table.items():
        if k in extra:
            continue
        meta = metas.get(k)
        if meta is None:
            errors.append(f"{where} unknown key {k} (known: {', '.join(known)})" + _hint(k, known, None))
        elif not meta.rule.accepts(value):
            errors.append(f"{where} {k} must be {meta.rule.text}, got {_show(value, meta.mask)}")
        else:
            out[k] = value
    return out


def _feed_sources(raw: Any, where: str, errors: list[str], env: Mapping[str, str]) -> tuple[FeedSourceConfig, ...]:
    if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
        errors.append(f"{where} sources must be an array of tables "
                      "({name = ..., url = ..., value_path = ...}), got " + _show(raw))
        return ()
    out, names = [], set()
    for i, table in enumerate(raw):
        at = f"{where} sources[{i}]"
        n = len(errors)
        kwargs = _check_table(table, FeedSourceConfig, at, errors)
        required_keys = ("name", "url") if table.get("format", "json") != "json" else ("name", "url", "value_path")
        for required in required_keys:
            if required not in table:
                errors.append(f"{at} {required} is missing")
        if len(errors) > n:
            continue
        if kwargs["name"] in names:
            errors.append(f"{at} name {_show(kwargs['name'])} is used by another source of the feed")
            continue
        try:
            if "headers" in kwargs:
                kwargs["headers"] = _env_headers(kwargs["headers"], env)
            source = FeedSourceConfig(**kwargs)
        except ValueError as exc:
            errors.append(f"{at} {exc}")
            continue
        names.add(kwargs["name"])
        out.append(source)
    return tuple(out)


def _feeds(default_kind: str, tables: dict, label: str, errors: list[str], env: Mapping[str, str]) -> FeedsConfig:
    """`[feeds]` with its `[feeds.<feed>]` tables, each checked like an owned
    section (unknown keys, bad values), then for consistency: an http feed
    needs sources enough for its rule, a simulated one a known simulation."""
    feeds = {}
    for name, table in tables.items():
        where = f"{label}: [feeds.{name}]"
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
            errors.append(f"{where} a feed name must be 1..64 letters, digits, '_' or '-'")
            continue
        n = len(errors)
        kwargs = _check_table(table, FeedConfig, where, errors, extra=("sources",))
        sources = _feed_sources(table["sources"], where, errors, env) if "sources" in table else ()
        if len(errors) > n:
            continue
        feed = FeedConfig(**kwargs, sources=sources)
        kind = feed.kind or default_kind
        if kind == "http":
            if not sources:
                errors.append(f'{where} sources must list at least one source when kind is "http"')
            elif feed.consensus == "agree" and feed.k > len(sources):
                errors.append(f"{where} k ({feed.k}) must not exceed the number of sources ({len(sources)})")
            elif feed.consensus == "median" and feed.min_sources > len(sources):
                errors.append(f"{where} min_sources ({feed.min_sources}) must not exceed "
                              f"the number of sources ({len(sources)})")
        elif feed.simulate == "" and name not in SIMULATED_FEEDS:
            errors.append(f'{where} simulate must be one of {", ".join(SIMULATED_FEEDS)} when the feed '
                          f'is simulated and not named after one')
        feeds[name] = feed
    return FeedsConfig(kind=default_kind, feeds=feeds)


def _describe_feeds(feeds: FeedsConfig) -> dict:
    out = {}
    for name, feed in feeds.feeds.items():
        table = {k: getattr(feed, k) for k in _owned_keys(FeedConfig)}
        table["sources"] = [
            {k: (m.mask(getattr(s, k)) if m.mask else getattr(s, k)) for k, m in _owned_keys(FeedSourceConfig).items()}
            for s in feed.sources]
        out[name] = table
    return out


def _hint(name: str, known: list[str], section: str | None) -> str:
    elsewhere = [s.name for s in SCHEMA.values() if name in s.keys and s.name != section]
    if elsewhere:
        return f"; {name} belongs in [{elsewhere[0]}]"
    subsection = [n for n in SCHEMA if n.rpartition(".")[2] == name and "." in n]
    if subsection:
        return f"; did you mean [{subsection[0]}]?"
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]}?" if close else ""


def _from_env(env: Mapping[str, str]) -> dict:
    given = {}
    for var, (sec, name) in env_overrides().items():
        if var in env:
            key = SCHEMA[sec].keys[name]
            given[(sec, name)] = (_parse_env(env[var], key.rule.type), f"environment: {var} (overrides [{sec}] {name})")
    return given


def _parse_env(raw: str, typ: type) -> Any:
    """An environment string as `typ`; left a string when it does not parse,
    so the rule check reports it (naming the variable)."""
    text = raw.strip()
    if typ is int and re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    if typ is float:
        try:
            return float(text)
        except ValueError:
            return raw
    if typ is bool:
        return {"true": True, "1": True, "yes": True, "on": True,
                "false": False, "0": False, "no": False, "off": False}.get(text.lower(), raw)
    return raw


def _cross_checks(values: dict, given: dict, label: str) -> list[str]:
    errors = []
    for (sec, kind), needed in _NEEDS.items():
        if values[sec]["kind"] != kind:
            continue
        origin = given.get((sec, "kind"), (None, ""))[1]
        via = f" (set by {origin.split()[1]})" if origin.startswith("environment: ") else ""
        for name in needed:
            if values[sec][name] == "":
                errors.append(f'{label}: [{sec}] {name} must be set when kind is "{kind}"{via}')
    for (sa, ka), (sb, kb) in _NOT_ABOVE:
        if values[sa][ka] > values[sb][kb]:
            errors.append(
                f"{label}: [{sa}] {ka} ({values[sa][ka]}) must not exceed [{sb}] {kb} ({values[sb][kb]})"
            )
    return errors


def _engine_error(exc: Exception, label: str, section: str) -> str:
    """A settings validator's message ("<field>[.<key>] must be ..."),
    re-addressed to the key in `section` (or its `[<section>.<field>]`)."""
    msg = str(exc)
    first, _, rest = msg.partition(" ")
    name, _, sub = first.partition(".")
    if rest and section in SCHEMA:
        if f"{section}.{name}" in SCHEMA:
            return f"{label}: [{section}.{name}] " + " ".join(filter(None, [sub, rest]))
        if name == "tick_hz":
            return f"{label}: [server] {name} {rest}"
        if name in SCHEMA[section].keys:
            return f"{label}: [{section}] {name} {rest}"
    return f"{label}: [{section}] settings rejected: {msg}"


# ---------------------------------------------------------------------------
# Showing.


def describe(cfg: ArenaConfig) -> dict:
    """The effective configuration laid out like config.toml, safe to log:
    values that may carry credentials are masked."""
    out: dict[str, Any] = {"source": cfg.source}
    for section in SCHEMA.values():
        table = out
        for part in section.name.split("."):
            table = table.setdefault(part, {})
        for name, key in section.keys.items():
            value = section.read(cfg, name)
            table[name] = key.mask(value) if key.mask and isinstance(value, str) else value
    out["feeds"].update(_describe_feeds(cfg.feeds))
    return out
