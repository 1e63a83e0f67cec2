"""`python -m arena reconcile`: find money a world cannot account for.

For a store and its ledger's records (the embedded book in the store, or
the Solana ledger's record store), it rebuilds the world's state from the
journal (nothing is written) and lists:

- **unexplained escrow**: an `escrow:<match>` holding money although the
  match is neither live in this world nor waiting for one of this world's
  settlements (for example another world's escrow, in records that were
  adopted or shared before worlds had ids);
- **escrow not matching its settlements**: a match whose escrow holds more
  or less than what this world's pending settlements will take from it;
- **conflicting done settlements**: a settlement key this world issued that
  the ledger records as carried out with other transfers (another world's
  settlement of the same key, or a bug's). Such a key's payout or refund did
  not reach the players the world meant.

Settlements issued before the store's oldest snapshot cannot be compared
(the journal before it is gone); they are counted, not judged. Exit status:
0 when everything is accounted for, 1 when something is listed, 2 when the
store or the records cannot be read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("--config", default="config.toml", help="config file naming the store (default ./config.toml)")
    p.add_argument("--records", default=None,
                   help="the Solana ledger's record store (default: the one the config names)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def main_from_args(args) -> int:
    import trio

    from arena.config import load_config_or_say_why

    cfg = load_config_or_say_why(args.config)
    if cfg is None:
        return 2
    try:
        report = trio.run(reconcile, cfg, args.records)
    except ReconcileError as exc:
        print(f"arena: reconcile: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print_report(report)
    return 1 if report["problems"] else 0


class ReconcileError(Exception):
    pass


async def world_history(store) -> tuple[object, dict[str, list], int]:
    """(the state at the durable tick, every Settle the world issued since its
    oldest snapshot as key -> [[source, dest, amount], ...], that snapshot's tick)."""
    from arena.engine.outputs import Settle
    from arena.persistence import codec
    from arena.persistence.durable import replay

    snaps = await store.snapshot_list()
    if not snaps:
        raise ReconcileError("the store has no snapshot: it has never been started")
    first = snaps[0][0]
    durable = await store.durable_tick()
    state = codec.load_snapshot(await store.load_snapshot(first))
    issued: dict[str, list] = {}

    def collect(tick, effects):
        for eff in effects:
            if isinstance(eff, Settle):
                issued[eff.key] = [[t.source, t.dest, t.amount] for t in eff.transfers]

    stops = [t for t, _ in snaps if first < t <= durable] + [durable]
    for stop in stops:  # one stretch between snapshots at a time: the journal may be long
        replay(state, await store.load_journal(state.tick, stop), stop, on_step=collect)
    return state, issued, first


def embedded_records(entries, keys) -> tuple[dict[str, int], dict[str, list]]:
    """(nonzero escrow balances by match, settlement key -> transfers) of the embedded book."""
    from arena.chain.embedded import LedgerBook

    book = LedgerBook.from_entries(entries, keys)
    escrows = {a[len("escrow:"):]: b for a, b in book.balances.items() if a.startswith("escrow:") and b}
    done: dict[str, list] = {}
    for key in book.applied_keys:
        if key.startswith("settle:"):
            done[key[len("settle:"):]] = [[e.debit, e.credit, e.amount] for e in book.entries if e.key == key]
    return escrows, done


def solana_records(path: str) -> tuple[dict[str, int], dict[str, list], dict]:
    """(nonzero escrow balances, done settlement key -> transfers, binding) of a record store."""
    from arena.chain.solana_store import SolanaStore

    if not Path(path).exists():
        raise ReconcileError(f"no Solana ledger records at {path} (give --records)")
    records = SolanaStore(path)
    try:
        done = {r.key: [list(t) for t in r.transfers] for r in records.done_settlements()}
        return records.nonzero_escrows(), done, records.binding()
    finally:
        records.close()


def compare(state, issued: dict[str, list], escrows: dict[str, int], done: dict[str, list]) -> dict:
    """The report's findings (pure: the tests call it on made-up books too)."""
    pending_by_match: dict[str, int] = {}
    for key, match in state.unsettled.items():
        for src, _dst, amount in issued.get(key, []):
            if src == f"escrow:{match}":
                pending_by_match[match] = pending_by_match.get(match, 0) + amount
    unexplained, mismatched = [], []
    for match, balance in sorted(escrows.items()):
        if match in state.matches:
            continue  # live: its escrow holds the entry fees paid so far
        if match in state.unsettled.values():
            want = pending_by_match.get(match)
            if want is not None and want != balance:
                mismatched.append({"match": match, "escrow": balance, "pending_settlements_take": want})
            continue
        unexplained.append({"match": match, "escrow": balance})
    conflicts = []
    for key, transfers in sorted(done.items()):
        mine = issued.get(key)
        if mine is None:
            continue
        if [t for t in mine if t[2] != 0] != [t for t in transfers if t[2] != 0]:
            conflicts.append({"key": key, "world_meant": mine, "ledger_did": transfers})
    return {"unexplained_escrow": unexplained, "escrow_not_matching_settlements": mismatched,
            "conflicting_done_settlements": conflicts,
            "done_not_issued_since_oldest_snapshot": sum(1 for k in done if k not in issued)}


async def reconcile(cfg, records_path: str | None = None) -> dict:
    from arena.persistence.runtime import make_store

    store = make_store(cfg)
    try:
        await store.open()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        raise ReconcileError(f"cannot open the store: {type(exc).__name__}: {exc}") from None
    try:
        state, issued, oldest = await world_history(store)
        report = {"world": state.world, "ledger": cfg.ledger.kind, "durable_tick": state.tick,
                  "oldest_snapshot_tick": oldest, "settlements_issued": len(issued),
                  "live_matches": len(state.matches), "unsettled": len(state.unsettled)}
        if cfg.ledger.kind in ("solana", "bsv"):
            # Both chain ledgers keep the same record store (arena.chain.solana_store).
            if cfg.ledger.kind == "bsv":
                from arena.chain.bsv import records_path as default_records
            else:
                from arena.chain.solana import records_path as default_records

            path = records_path or default_records(cfg)
            escrows, done, binding = solana_records(path)
            report["records"] = {"path": path, **binding}
            if binding.get("world") not in (None, state.world):
                report["records"]["note"] = "these records are bound to another world"
        else:
            escrows, done = embedded_records(*await store.ledger_entries())
    finally:
        await store.close()
    findings = compare(state, issued, escrows, done)
    report.update(findings)
    report["problems"] = (len(findings["unexplained_escrow"]) + len(findings["escrow_not_matching_settlements"])
                          + len(findings["conflicting_done_settlements"]))
    return report


def print_report(r: dict, out=None) -> None:
    out = out or sys.stdout
    print(f"world {r['world'] or '(not named yet: from before worlds had ids)'}, ledger {r['ledger']}, "
          f"durable tick {r['durable_tick']}", file=out)
    if "records" in r:
        rec = r["records"]
        print(f"records {rec['path']}: bound to world {rec.get('world', '(none)')}"
              + (f", adopted from {rec['adopted_from']}" if rec.get("adopted_from") else "")
              + (f" ({rec['note']})" if rec.get("note") else ""), file=out)
    print(f"{r['settlements_issued']} settlements issued since the oldest snapshot (tick "
          f"{r['oldest_snapshot_tick']}); {r['live_matches']} live matches, {r['unsettled']} unsettled", file=out)
    for x in r["unexplained_escrow"]:
        print(f"UNEXPLAINED escrow:{x['match']} holds {x['escrow']}: the match is neither live in this "
              f"world nor waiting for a settlement", file=out)
    for x in r["escrow_not_matching_settlements"]:
        print(f"MISMATCH escrow:{x['match']} holds {x['escrow']}, its pending settlements take "
              f"{x['pending_settlements_take']}", file=out)
    for x in r["conflicting_done_settlements"]:
        print(f"CONFLICT {x['key']}: the ledger carried it out as {x['ledger_did']}, "
              f"this world meant {x['world_meant']}", file=out)
    if r["done_not_issued_since_oldest_snapshot"]:
        print(f"{r['done_not_issued_since_oldest_snapshot']} done settlements were not issued since the "
              f"oldest snapshot (earlier, or by another world): not compared", file=out)
    print("everything is accounted for" if not r["problems"] else f"{r['problems']} problems", file=out)
