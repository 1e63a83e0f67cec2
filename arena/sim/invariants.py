"""What must hold in every simulated world, whatever the faults.

Each check takes the `World` and returns a list of problems (empty: holds).
`continuous` runs every few ticks on the live server; `final` once the
world has settled (no more faults, no new matches); `replay` rebuilds the
state from the store. A mode adds its own through the plugin its `Mode.simulation` names
(`invariants(world, phase) -> problems`).

- Money is conserved: the embedded ledger's book audits (balances sum to
  zero with the mint accounts, none negative, the entries rebuild them),
  and after settling every escrow is empty and what the faucet minted is
  exactly what the wallets and fee accounts hold: nothing created, lost or
  stuck.
- Money waits for the journal: every settlement the ledger applied is in
  the store's outbox, written with the tick that issued it.
- Every effect is carried out exactly once per key: after settling nothing
  is unsettled in the engine and every outbox row in the store is done (the
  ledger applies a key at most once by construction; a key applied with
  other transfers would be a `key_conflict`, listed in `/health`).
- Every live match has a timer (so it will end); after settling none is live.
- Events arrive in seq order without gaps, after resumes too.
- Replaying the journal from the oldest kept snapshot reproduces every later
  snapshot's hash and the live state's.
- No buffer grows without bound (session event buffers, the pending inputs,
  the journal buffer, connections).
"""

from __future__ import annotations

import hashlib
import importlib

from arena.chain.embedded import LedgerCorrupt
from arena.engine.canonical import state_hash
from arena.engine.registry import registry
from arena.persistence import codec
from arena.persistence.durable import replay as replay_journal


def _mode_checks(world, phase: str) -> list[str]:
    problems = []
    for plugin in plugins():
        problems += plugin.invariants(world, phase)
    return problems


def plugins() -> list:
    """The simulation plugin of every registered mode that names one."""
    return [importlib.import_module(mode.simulation).PLUGIN
            for mode in registry.modes().values() if mode.simulation]


def continuous(world) -> list[str]:
    srv = world.server
    problems = []
    try:
        world.book.audit()
    except LedgerCorrupt as exc:
        problems.append(f"ledger book corrupt: {exc}")
    # Write-ahead: a settlement the ledger applied was issued by a durable
    # tick (its outbox row is in the store).
    early = [k for k in world.book.applied_keys
             if k.startswith("settle:") and k[len("settle:"):] not in world.store.outbox]
    if early:
        problems.append(f"the ledger applied settlements no durable tick issued: {sorted(early)[:3]}")
    state = srv.state
    for mid, match in state.matches.items():
        if match.wake_at < state.tick:
            problems.append(f"match {mid} is live with no timer (wake_at {match.wake_at}, tick {state.tick})")
    gw = srv.gateway
    for s in gw.sessions.by_id.values():
        if len(s.tails) > s.max_events:
            problems.append(f"session {s.id[:8]} buffers {len(s.tails)} events > {s.max_events}")
    d = srv.persistence.durability
    if d.buffered_inputs > d.buffer_max + 50_000:
        problems.append(f"journal buffer {d.buffered_inputs} beyond its bound")
    if len(gw.conns) > len(world.bots) * 2 + 8:
        problems.append(f"{len(gw.conns)} connections for {len(world.bots)} bots")
    for bot in world.bots:
        c = getattr(bot, "client", None)
        if c is not None and c.seq_gaps:
            problems.append(f"{bot.name} saw event seq gaps {c.seq_gaps[:3]}")
    return problems + _mode_checks(world, "continuous")


def standing(state) -> dict[str, int]:
    """Matches that live on by design, and what each one's escrow must hold
    (`Mode.standing`: a meme hall and its viewers' balances)."""
    out: dict[str, int] = {}
    for name, mode in registry.modes().items():
        out.update(mode.standing(state.modes.get(name)))
    return out


def settled(world) -> bool:
    srv = world.server
    if srv is None:
        return False
    live = set(srv.state.matches) - set(standing(srv.state))
    if live or srv.state.unsettled or srv.persistence.durability.held:
        return False
    # Effects still out (a review of a late upload): wait for their answers.
    return not any(r[3] is None for r in world.store.outbox.values())


def final(world) -> list[str]:
    srv = world.server
    state = srv.state
    problems = []
    keep = standing(state)
    live = [m for m in state.matches if m not in keep]
    if live:
        problems.append(f"{len(live)} matches still live after settling: " + ", ".join(live[:3]))
    if state.unsettled:
        problems.append(f"effects never carried out: {sorted(state.unsettled)[:3]}")
    # What the accounts hold equals what the mint issued: the book's audit
    # (balances sum to zero with the mint accounts), run by `continuous`.
    escrow = {a: v for a, v in world.book.balances.items()
              if a.startswith("escrow:") and v != keep.get(a.removeprefix("escrow:"), 0)}
    if escrow:
        problems.append(f"money stuck in escrow: {dict(list(escrow.items())[:3])}"
                        + (f" (standing matches must hold {keep})" if keep else ""))
    open_rows = [k for k, r in world.store.outbox.items() if r[3] is None]
    if open_rows:
        problems.append(f"outbox rows never done: {open_rows[:3]}")
    return problems + _mode_checks(world, "final")


def replay(world) -> list[str]:
    """From the oldest kept snapshot: every later snapshot's hash, then the
    live state's (the caller made the store durable up to the live tick)."""
    store = world.store
    srv = world.server
    problems = []
    if not store.snapshots:
        return ["no snapshot in the store"]
    first = min(store.snapshots)
    stored_hash, blob = store.snapshots[first]
    state = codec.load_snapshot(blob)
    if state_hash(state) != stored_hash:
        return [f"snapshot {first} does not match its own hash"]
    durable = store.meta.get("durable_tick", 0)
    journal = sorted((t, b) for t, b in store.journal.items() if first < t <= durable)

    def check(tick, _effects):
        kept = store.snapshots.get(tick)
        if kept is not None and state_hash(state) != kept[0]:
            problems.append(f"replay from {first} differs from the snapshot at {tick}")

    replay_journal(state, journal, durable, on_step=check)
    if srv.state.tick == durable and state_hash(state) != state_hash(srv.state):
        problems.append(f"replay to {durable} differs from the live state")
    world.stats["replayed_ticks"] = world.stats.get("replayed_ticks", 0) + durable - first
    return problems


def digest(world) -> str:
    """What a run came to, for checking that a seed replays exactly."""
    h = hashlib.blake2b(digest_size=16)
    h.update(state_hash(world.server.state).encode())
    h.update(" ".join(world.applied_faults).encode())
    h.update(str(sorted((a, v) for a, v in world.book.balances.items() if v)).encode())
    return h.hexdigest()


__all__ = ["continuous", "final", "replay", "settled", "digest"]
