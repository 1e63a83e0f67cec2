"""The whole server under simulation: seeded worlds, injected faults, invariants.

`run_seed(seed, ticks)` runs one world (`arena.sim.world`) and returns a
`SimResult`; `shrink(result)` finds the shortest prefix and fewest faults
that still fail; `python -m arena simulate` runs many seeds
(`arena.sim.cli`). docs/SIMULATION.md says what is simulated and how a mode
adds its bots and invariants.
"""

from .shrink import shrink
from .world import SimResult, run_seed

__all__ = ["run_seed", "shrink", "SimResult"]
