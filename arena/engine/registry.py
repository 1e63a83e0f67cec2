"""The modes this engine hosts, found by name (as Colyseus finds a room).

A mode is one package that declares its whole vocabulary on its `Mode`
object (see `arena.engine.mode`) and registers it here. Everything outside
the mode (the engine core, the gateway, request validation, persistence,
the server, the config loader) reads that vocabulary from this registry and
never names a game.

The built-in modes are the packages under `arena.modes`, imported on first
use; more can be registered by any module before the server starts (a test
registers its own; `[server] mode_modules` names modules for the server to
import). Registering twice under one name is an error, so two modes never
share an input, effect or request name.
"""

from __future__ import annotations

import importlib

from . import inputs as I
from .mode import Mode
from .outputs import FetchFeed, Settle

# The side task that fetches data feeds (`FetchFeed`), for every mode.
FEED_WORKER = "feed"

BUILTIN_PACKAGE = "arena.modes"


def _settled_key(done: I.SettlementDone) -> str | None:
    """A settlement completes its own key, once the ledger applied it."""
    return done.key if done.ok else None


def _fetched_key(result: I.FeedResult) -> str:
    """Every status completes the fetch: "unavailable" is an answer too (the
    feed side task gave up at its deadline), not a lost one."""
    return result.key


class Registry:
    def __init__(self) -> None:
        self._modes: dict[str, Mode] = {}
        self._loading = False
        self._loaded = False
        # Derived once per registration, read on hot paths.
        self.effects: dict[type, tuple[str, str]] = {}   # effect class -> (mode, worker)
        self.effect_types: dict[str, type] = {Settle.__name__: Settle, FetchFeed.__name__: FetchFeed}
        # result input class -> key function: the framework's results, then each mode's
        self.result_keys: dict[type, object] = {I.SettlementDone: _settled_key, I.FeedResult: _fetched_key}
        self.requests: dict[str, tuple[str, object]] = {}  # request type -> (mode, GameRequest)
        # Called after every change, so readers can keep flat tables for hot paths.
        self.listeners: list = []

    def listen(self, fn) -> None:
        """Call `fn()` now and after every registration or unregistration."""
        self.listeners.append(fn)
        fn()

    def _changed(self) -> None:
        for fn in self.listeners:
            fn()

    def modes(self) -> dict[str, Mode]:
        """Every registered mode by name (the built-in ones loaded on first call)."""
        if not self._loaded and not self._loading:
            self._loading = True
            try:
                importlib.import_module(BUILTIN_PACKAGE)
            finally:
                self._loading = False
            self._loaded = True
        return self._modes

    def register(self, mode: Mode) -> Mode:
        if not isinstance(mode, Mode) or not mode.name or not mode.name.isidentifier():
            raise ValueError(f"a mode needs a name that is an identifier, got {getattr(mode, 'name', None)!r}")
        if mode.name in self._modes:
            if self._modes[mode.name] is mode:
                return mode
            raise ValueError(f"a mode named {mode.name!r} is registered already")
        for cls in mode.inputs:
            other = I.INPUT_TYPES.get(cls.__name__)
            if other is not None and other is not cls:
                raise ValueError(f"mode {mode.name}: input {cls.__name__} is another's already")
        for cls in mode.effects:
            if cls.__name__ in self.effect_types:
                raise ValueError(f"mode {mode.name}: effect {cls.__name__} is another's already")
        for req in mode.requests:
            if req.name in self.requests:
                raise ValueError(f"mode {mode.name}: request {req.name} is another's already")
        if mode.settings is not None:
            from .snapshot import register as register_snapshot_class

            register_snapshot_class(mode.settings)
        for cls in mode.inputs:
            I.register_input(cls)
        for cls, worker in mode.effects.items():
            self.effects[cls] = (mode.name, worker)
            self.effect_types[cls.__name__] = cls
        self.result_keys.update(mode.result_keys)
        for req in mode.requests:
            self.requests[req.name] = (mode.name, req)
        self._modes[mode.name] = mode
        self._changed()
        return mode

    def unregister(self, name: str) -> None:
        """Forget mode `name` and its vocabulary (for tests that bring a mode
        of their own and must leave the registry as they found it)."""
        mode = self._modes.pop(name, None)
        if mode is None:
            return
        for cls in mode.inputs:
            if I.INPUT_TYPES.get(cls.__name__) is cls:
                del I.INPUT_TYPES[cls.__name__]
        for cls in mode.effects:
            self.effects.pop(cls, None)
            self.effect_types.pop(cls.__name__, None)
        for cls in mode.result_keys:
            self.result_keys.pop(cls, None)
        for req in mode.requests:
            self.requests.pop(req.name, None)
        self._changed()

    def get(self, name: str) -> Mode | None:
        return self.modes().get(name)

    def worker_of(self, effect) -> str | None:
        """The side task ("ledger", "feed", or what the mode declared) that carries out `effect`."""
        t = type(effect)
        if t is Settle:
            return "ledger"
        if t is FetchFeed:
            return FEED_WORKER
        found = self.effects.get(t)
        return found[1] if found is not None else None


registry = Registry()
register = registry.register
