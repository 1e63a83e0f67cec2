"""What a game mode is: a small set of callbacks over plain state.

Modeled on Nakama's match handler. The core owns time (ticks and timers),
routing and output; a mode only decides what an input or a due timer means
for its matches. Adding the canvas, lottery, contest or meme modes means
writing one of these and registering it in `arena.engine.core.MODES`; the
core does not change.

Callbacks and when the core calls them:

- `setup(config)`: once, when a fresh engine state is made; returns the
  mode's shared state (queues, leaderboards) kept in `state.modes[name]`.
- `route(ctx, inp)`: an input that names no match but belongs to the mode
  (queue requests, a wallet's connection changing).
- `input(ctx, match, inp)`: an input that names one of the mode's matches.
- `tick(ctx, match)`: the match's timer is due (`ctx.wake` set it).
- `leave(ctx, match, wallet)` / `rejoin(ctx, match, wallet)`: a bound wallet
  lost its last connection / has one again.
- `snapshot(ctx, match, wallet)`: the public view of a match for a wallet.
- `orphan_input(ctx, inp)`: an input naming a match that no longer exists
  (late results); the default ignores it.

Matches are created by the mode itself (from `route`, e.g. when matchmaking
pairs two players) and ended by it; `ctx.drop_match` forgets them.
"""

from __future__ import annotations


class Mode:
    name: str = ""
    # Input types (classes) `route` wants to see, besides connection changes.
    routed_inputs: tuple[type, ...] = ()

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
