"""`python -m arena replay`: rebuild the engine state from a store's journal.

Starts from the oldest snapshot (or `--from TICK`), replays every journaled
tick up to the durable tick, and at each later snapshot prints the hash the
replay reached next to the hash stored with the snapshot (of the snapshot
brought up to this release's modes, as the replay's start is). A mismatch means
the journal, a snapshot, or the engine's determinism is broken; the exit
status is then 1. For debugging: nothing is written.
"""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("--config", default="config.toml", help="config file naming the store (default ./config.toml)")
    p.add_argument("--from", dest="start", type=int, default=None,
                   help="start from the snapshot at this tick (default: the oldest)")
    p.add_argument("--to", dest="end", type=int, default=None, help="stop at this tick (default: the durable tick)")


def main_from_args(args) -> int:
    import trio

    from arena.config import load_config_or_say_why
    from arena.persistence.runtime import make_store

    cfg = load_config_or_say_why(args.config)
    if cfg is None:
        return 2
    try:
        return trio.run(replay_store, make_store(cfg), args.start, args.end)
    except Exception as exc:  # noqa: BLE001
        print(f"arena: replay failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


async def _expected(store, tick: int, stored_hash: str) -> str:
    """The hash the replay must reach at a stored snapshot: the snapshot's
    own (checked against what the store says it is), after the same
    `core.upgrade` the replay's start had. A snapshot written before a mode
    was registered lacks that mode's fresh state; the replay, started from an
    upgraded state, has it; both agree on everything else."""
    from arena.engine import core
    from arena.engine.canonical import state_hash
    from arena.persistence import codec

    snap = codec.load_snapshot(await store.load_snapshot(tick))
    if state_hash(snap) != stored_hash:
        return stored_hash  # the snapshot itself is damaged: report against what the store claims
    return state_hash(core.upgrade(snap))


async def replay_store(store, start=None, end=None, out=None) -> int:
    from arena.engine.canonical import state_hash
    from arena.persistence import codec
    from arena.persistence.durable import replay

    out = out or sys.stdout
    await store.open()
    try:
        snaps = await store.snapshot_list()
        if not snaps:
            print("no snapshots in this store", file=out)
            return 1
        ticks = [t for t, _ in snaps]
        first = ticks[0] if start is None else start
        if first not in ticks:
            print(f"no snapshot at tick {first} (snapshots at {ticks[:5]}...)", file=out)
            return 1
        durable = await store.durable_tick()
        last = durable if end is None else min(end, durable)
        state = codec.load_snapshot(await store.load_snapshot(first))
        stored = dict(snaps)
        h = state_hash(state)
        bad = 0 if h == stored[first] else 1
        print(f"tick {first:>10}  {h}  {'ok' if not bad else 'MISMATCH (stored ' + stored[first] + ')'}  (start)",
              file=out)
        later = [t for t in ticks if first < t <= last]
        for t in later + [last]:
            # one stretch between snapshots at a time: the journal may be long
            replay(state, await store.load_journal(state.tick, t), t)
            h = state_hash(state)
            if t in stored:
                expect = await _expected(store, t, stored[t])
                ok = h == expect
                bad += not ok
                print(f"tick {t:>10}  {h}  {'ok' if ok else 'MISMATCH (stored ' + expect + ')'}", file=out)
        print(f"tick {state.tick:>10}  {state_hash(state)}  (durable tick; {len(state.matches)} live matches, "
              f"{len(state.unsettled)} unsettled)", file=out)
        return 1 if bad else 0
    finally:
        await store.close()
