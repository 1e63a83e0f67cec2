"""Side tasks that modes bring for their own effects (`Mode.side_tasks`).

A mode names a side task in its `effects` and says where its worker lives
("module:factory": a name, so the mode's package stays pure). The server
builds each handler once with a `TaskContext` and runs a `ModeTask` per
side task under its own `Supervisor`: effects in, results out as journaled
inputs (`submit`), exactly like the judge and the feeds.

An effect whose handler raises is tried again after the handler's
`retry_after_s(effect, attempts)`, for as long as the server runs; the
effect stays in the outbox until its result is journaled, so a restart
dispatches it again. Handlers must therefore be idempotent (the same effect
carried out twice gives the same result and harms nothing).

Each side task has its own circuit breaker (its `Supervisor`): a handler
may say how it trips with a `breaker` attribute, a dict of the
supervisor's `failure_threshold` (consecutive failures that open it) and
`reset_after` (seconds it stays open); without one, the supervisor's
defaults. While the circuit is open no effect is tried: each waits out the
reset, then is tried once more (Recovering); a success closes the circuit,
a failure opens it again. The task reports Initializing until it runs.
"""

from __future__ import annotations

import importlib
import logging
import math

import attrs
import trio

from arena.engine.registry import registry
from arena.supervisor import Supervisor

log = logging.getLogger("arena.mode_tasks")


@attrs.frozen
class TaskContext:
    """What a mode's side task may use: the whole config, the media store,
    the store (read-only queries, `store.query(name, params)`) and the AI
    port's judge (e.g. its `moderate`, where it has one)."""

    config: object
    media: object
    store: object
    judge: object = None


def load_factory(path: str):
    """The factory named "package.module:function"."""
    module, _, attr = path.partition(":")
    if not module or not attr:
        raise ValueError(f"a side task is named 'module:factory', got {path!r}")
    return getattr(importlib.import_module(module), attr)


class ModeTask:
    """One side task: a channel of effects, each carried out by `handler`
    until it succeeds, its result submitted to the engine."""

    def __init__(self, name: str, handler, submit, supervisor: Supervisor | None = None):
        self.name = name
        self.handler = handler
        self.submit = submit
        if supervisor is None:
            supervisor = Supervisor(name, initializing=True, **dict(getattr(handler, "breaker", None) or {}))
        self.supervisor = supervisor
        self.send, self._recv = trio.open_memory_channel(math.inf)

    async def run(self) -> None:
        self.supervisor.ready()
        async with trio.open_nursery() as nursery:
            async for effect in self._recv:
                nursery.start_soon(self._carry_out, effect)

    async def _carry_out(self, effect) -> None:
        attempts = 0
        while True:
            while self.supervisor.circuit_open:  # open: wait out the reset, then try (recovering)
                await trio.sleep(max(self.supervisor.reopens_in(), 0.001))
            try:
                result = await self.handler.run(effect)
            except Exception as exc:  # noqa: BLE001 - retried, never dropped
                attempts += 1
                self.supervisor.record_failure(exc)
                delay = self.handler.retry_after_s(effect, attempts)
                log.error("side task failed; retrying", extra={
                    "task": self.name, "key": getattr(effect, "key", None), "attempts": attempts,
                    "retry_in_s": delay, "error": str(exc)[:200]})
                await trio.sleep(delay)
                continue
            self.supervisor.record_success()
            if result is not None:
                self.submit(result)
            return


def build_mode_tasks(context: TaskContext, submit) -> dict[str, ModeTask]:
    """A `ModeTask` for every side task the registered modes declare."""
    tasks: dict[str, ModeTask] = {}
    for mode in registry.modes().values():
        for name, path in mode.side_tasks.items():
            if name in tasks:
                raise ValueError(f"two modes declare the side task {name!r}")
            tasks[name] = ModeTask(name, load_factory(path)(context), submit)
    return tasks
