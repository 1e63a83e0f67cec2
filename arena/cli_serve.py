"""`python -m arena serve`: run the server until Ctrl-C."""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("--config", default="config.toml", help="config file (default ./config.toml)")
    p.add_argument("--port", type=int, default=None, help="override [server] port")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")


def main_from_args(args) -> int:
    import trio

    from arena import logs
    from arena.config import ConfigError, load_config
    from arena.server import ArenaServer

    logs.setup(args.log_level)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"arena: {exc}", file=sys.stderr)
        return 2
    try:
        server = ArenaServer(cfg, port=args.port)
    except (ValueError, OSError) as exc:
        print(f"arena: cannot start: {exc}", file=sys.stderr)
        return 2
    port = args.port if args.port is not None else cfg.server.port
    print(
        f"arena: serving ws://{cfg.server.host}:{port}/v1 (tick {cfg.server.tick_hz} Hz, "
        f"ledger {cfg.ledger.kind}, ai {cfg.ai.kind}, store {cfg.store.kind}); Ctrl-C stops",
        file=sys.stderr,
    )
    try:
        trio.run(server.run)
    except KeyboardInterrupt:
        print("arena: stopped", file=sys.stderr)
    except OSError as exc:
        print(f"arena: cannot serve: {exc}", file=sys.stderr)
        return 1
    return 0
