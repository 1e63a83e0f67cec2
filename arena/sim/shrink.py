"""Make a failing world small: fewer ticks, fewer faults, the same failure.

A world is a function of (seed, ticks, fault plan), so a smaller failing
world is found by running smaller ones: first the shortest prefix of ticks
that still fails (bisection over the ticks, with the faults before the
cut), then each fault dropped in turn while the failure stays. "Still
fails" means any violation (a shrunk world may fail in a related way).
"""

from __future__ import annotations

from .world import SimResult, run_seed


def shrink(result: SimResult, *, max_runs: int = 40, progress=None) -> SimResult:
    if result.ok:
        return result
    best = result
    runs = 0

    def attempt(ticks, plan):
        nonlocal runs
        runs += 1
        r = run_seed(result.seed, ticks, bots=result.stats.get("bots", 4), plan=plan)
        if progress is not None:
            progress(f"  shrink: {ticks} ticks, {len(plan.faults)} faults -> {'fails' if not r.ok else 'ok'}")
        return r

    lo, hi = 1, best.ticks
    while lo < hi and runs < max_runs // 2:
        mid = (lo + hi) // 2
        r = attempt(mid, best.plan.upto(mid))
        if r.ok:
            lo = mid + 1
        else:
            best, hi = r, mid
    i = 0
    while i < len(best.plan.faults) and runs < max_runs:
        r = attempt(best.ticks, best.plan.without(i))
        if not r.ok:
            best = r
        else:
            i += 1
    return best


__all__ = ["shrink"]
