"""Everything that can change engine state arrives as one of these inputs.

Client requests become inputs once the net layer has decoded and validated
them (types and sizes); the engine then applies the game rules. Results of side
tasks (a confirmed entry fee, a prompt, a score, a settled payout) come back as
inputs too, so the journal of inputs is the complete history: replaying it
from a snapshot rebuilds the state exactly.

Inputs are frozen attrs classes holding only plain values (str, int, bytes,
tuples), so they serialize losslessly for the journal (`to_record` /
`from_record`).
"""

from __future__ import annotations

from typing import ClassVar

import attrs
from attrs import field, frozen

from .outputs import freeze

# --- requests from a logged-in client --------------------------------------
# `session` and `rid` address the reply; `wallet` is the authenticated player.


@frozen
class ClientInput:
    session: str
    rid: int
    wallet: str


@frozen
class QueueJoin(ClientInput):
    mode: str
    tier: str


@frozen
class QueueLeave(ClientInput):
    pass


@frozen
class MatchWatch(ClientInput):
    match: str


# --- facts reported by the net layer ----------------------------------------


@frozen
class PlayerDisconnected:
    """The wallet has no live connection any more (its last one dropped)."""

    wallet: str


@frozen
class PlayerReconnected:
    """The wallet has a live connection again (login or session.resume)."""

    wallet: str


@frozen
class MatchPaired:
    """Shared matchmaking (docs/SCALING.md) paired `players` from the mode's
    shared queue `queue`, and this world is to hold their match.

    Fed by the node whose pairing took them out of the queue (exactly once
    per pair), journaled like every input; the mode's `route` creates the
    match (or refuses it, telling the players) as its own queue would."""

    mode: str
    queue: str
    players: tuple = field(converter=tuple)


# --- results of side tasks ----------------------------------------------------


@frozen
class EntryFeePaid:
    """The ledger moved `amount` from `wallet` into the escrow of `match`.

    The engine accepts it if the match is still waiting for that player's fee;
    otherwise it orders a refund, so money that reached escrow always leaves
    it again. The ledger reports each payment once; a repeat of a payment id
    the battle already counted is ignored.
    """

    match: str
    wallet: str
    amount: int
    payment_id: str


@frozen
class TipSent:
    """A tip was settled on the ledger; the engine only announces it."""

    from_wallet: str
    to_wallet: str
    amount: int
    fee: int
    payment_id: str
    # The battle the tipper was watching (`tip.confirm` "match"), if any: the
    # tip is tied to it while it is live.
    match: str = ""


@frozen
class SettlementDone:
    """The ledger carried out the settlement with this idempotency key."""

    key: str
    ok: bool = True
    detail: str = ""


# How a `FeedResult` came out.
FEED_OK = "ok"
FEED_NO_CONSENSUS = "no_consensus"
FEED_UNAVAILABLE = "unavailable"


@frozen
class FeedResult:
    """The answer to the `FetchFeed` effect with this `key`.

    `status` is "ok" (then `value` is the decided value: str, int or a tuple
    of them; prices are integers in base units or decimal strings, never
    floats), "no_consensus" (sources answered but the feed's rule decided
    nothing) or "unavailable" (too few sources answered by the deadline).
    `answers` keeps every source's last answer, as
    (source, status, value, detail, fetched_at_ms, observed_at_ms) tuples,
    so the decision can be audited and a replay never asks a source again.
    A live `match` gets it through its mode's `input`; match "" through the
    mode's `route`; a match that is gone through the modes' `orphan_input`.
    """

    key: str
    mode: str
    match: str
    feed: str
    status: str
    value: object = field(default=None, converter=freeze)
    answers: tuple = field(default=(), converter=freeze)


def pairs(value) -> tuple:
    return tuple((str(k), v) for k, v in value)


@frozen
class SettingsChanged:
    """The operator changed a mode's settings (its config.toml section): they
    apply from this tick on.

    Journaled like every input, so a replay changes them at the same tick.
    `settings` holds (name, value) pairs of the mode's settings class
    (`arena.engine.config.settings_pairs`: a dict field's items as
    ("<field>.<key>", value)). What matches already running keep is the
    mode's to say. A value the settings would refuse changes nothing.
    """

    mode: str
    settings: tuple = field(converter=pairs)


@frozen
class WorldNamed:
    """A world written before worlds had ids gets the id its store now keeps.

    Fed once, by recovery, on the first tick after such a store is opened;
    journaled like every input, so a replay names the world at the same tick.
    A world that has an id already keeps it (the input changes nothing).
    """

    world: str


@frozen
class ClockSet:
    """The host's wall-clock time (Unix epoch ms) on this tick: the anchor of
    engine time (`arena.engine.clock`). Fed by the tick loop, first in its
    tick, on a run's first tick and when the engine's reckoning drifts."""

    ms: int


@frozen
class ScheduleFired:
    """An occurrence of a mode's calendar rule (`arena.schedule`), from the
    scheduler side task.

    `at_ms` is the occurrence; `kind` is "on_time", "late" (it was missed
    while the server was down and fires once on start-up), "skipped" (missed,
    and the rule's policy is to skip: the mode is not called) or "armed" (the
    rule was first seen: nothing fires, later occurrences count from here).
    `missed` counts earlier occurrences since the rule's mark that were not
    fired. The engine applies an occurrence only if it is after the rule's
    mark (`EngineState.schedule_marks`), so a repeat changes nothing.

    `next_ms` is the rule's next occurrence after `at_ms` (-1: none, a
    one-off rule), computed by the scheduler from the zone database and
    journaled with the rest: a mode that plans ahead (opening a round for the
    next draw) reads it here instead of asking a zone database inside a
    tick, so a replay never depends on today's tzdata.
    """

    mode: str
    rule: str
    at_ms: int
    kind: str
    missed: int = 0
    next_ms: int = -1


# The framework's inputs; each mode adds its own (`Mode.inputs`, registered
# with the mode by `arena.engine.registry`).
INPUT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        QueueJoin, QueueLeave, MatchWatch, PlayerDisconnected, PlayerReconnected, MatchPaired,
        EntryFeePaid, TipSent, SettlementDone, SettingsChanged, WorldNamed, ClockSet, ScheduleFired, FeedResult,
    )
}


def register_input(cls: type) -> type:
    """Add a mode's input type to the journal's vocabulary (the registry does)."""
    INPUT_TYPES[cls.__name__] = cls
    return cls


# Per input class, a generated function building its record as one dict
# display (as attrs generates `__init__`): the journal encodes every input of
# every tick, and this is ~3x cheaper than a loop over `attrs.fields`.
_RECORDERS: dict[type, object] = {}


def _make_recorder(cls: type):
    names = [f.name for f in attrs.fields(cls)]
    for name in names:
        if not name.isidentifier():  # attrs field names are identifiers; say so if not
            raise TypeError(f"{cls.__name__}.{name} is not an identifier")
    items = "".join(f", {n!r}: inp.{n}" for n in names)
    scope: dict = {}
    exec(f"def record(inp):\n    return {{'t': {cls.__name__!r}{items}}}\n", scope)  # noqa: S102
    return scope["record"]


def to_record(inp: object) -> dict:
    """A plain dict for the journal: {"t": type name, field: value, ...}.

    Sequence fields stay tuples (MessagePack writes tuples and lists alike
    as arrays); `from_record` turns arrays back into tuples.
    """
    recorder = _RECORDERS.get(inp.__class__)
    if recorder is None:
        recorder = _RECORDERS[inp.__class__] = _make_recorder(inp.__class__)
    return recorder(inp)


def from_record(rec: dict) -> object:
    rec = dict(rec)
    name = rec.pop("t")
    cls = INPUT_TYPES.get(name)
    if cls is None:
        from .registry import registry

        registry.modes()  # the built-in modes' inputs, registered on first use
        cls = INPUT_TYPES[name]
    kwargs = {}
    for f in attrs.fields(cls):
        if f.name in rec:
            v = rec[f.name]
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kwargs)
