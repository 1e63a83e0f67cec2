"""`python -m arena simulate`: run seeded worlds of the whole server with faults.

    python -m arena simulate --seeds 200 --ticks 1200      # 200 worlds (seeds 1..200)
    python -m arena simulate --seed 1234                   # one world, exactly again
    python -m arena simulate --seed 1234 --plan "40:crash:10 90:store_fail:30"

Each world prints one line; a failing one prints its failure, its fault
plan, the bots' last lines, then a shrunk version (fewest ticks and faults
that still fail) and the command that replays it. Exit status 1 if any
world failed.
"""

from __future__ import annotations

import argparse
import sys
import time

from .faults import FaultPlan
from .shrink import shrink
from .world import run_seed


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=int, default=20, help="how many worlds (seeds first..first+N-1)")
    p.add_argument("--first", type=int, default=1, help="the first seed (default 1)")
    p.add_argument("--seed", type=int, help="run this one seed only")
    p.add_argument("--ticks", type=int, default=1200, help="simulated ticks per world (20 per second)")
    p.add_argument("--bots", type=int, default=4, help="bots per mode")
    p.add_argument("--fault-rate", type=float, default=1.0, help="faults per 100 ticks, about")
    p.add_argument("--plan", help="a fault plan instead of the seed's (as printed for a failure)")
    p.add_argument("--no-shrink", action="store_true", help="do not shrink a failing world")


def main_from_args(args: argparse.Namespace) -> int:
    seeds = [args.seed] if args.seed is not None else range(args.first, args.first + args.seeds)
    plan = FaultPlan.parse(args.plan) if args.plan else None
    totals = {"worlds": 0, "failed": 0, "ticks": 0, "faults": 0, "checks": 0, "lives": 0}
    t0 = time.monotonic()
    for seed in seeds:
        r = run_seed(seed, args.ticks, bots=args.bots, fault_rate=args.fault_rate, plan=plan)
        totals["worlds"] += 1
        for k in ("ticks", "faults", "checks", "lives"):
            totals[k] += r.stats.get(k, 0)
        print(r.summary(), flush=True)
        if not r.ok:
            totals["failed"] += 1
            if not args.no_shrink:
                small = shrink(r, progress=lambda line: print(line, flush=True))
                print(f"  shrunk: {small.ticks} ticks, plan: {small.plan.text() or '(none)'}\n"
                      f"  {small.failure}\n"
                      f"  replay: python -m arena simulate --seed {seed} --ticks {small.ticks} "
                      f"--bots {args.bots} --plan '{small.plan.text()}'", flush=True)
    dt = time.monotonic() - t0
    print(f"{totals['worlds']} worlds, {totals['failed']} failed; {totals['ticks']} simulated ticks, "
          f"{totals['lives']} server lives, {totals['faults']} faults injected, {totals['checks']} invariant "
          f"checks; {dt:.1f} s", flush=True)
    return 1 if totals["failed"] else 0


__all__ = ["add_arguments", "main_from_args"]
if __name__ == "__main__":
    p = argparse.ArgumentParser()
    add_arguments(p)
    sys.exit(main_from_args(p.parse_args()))
