"""`python -m arena COMMAND`: serve, bot (and more as they land)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="arena", description="Arena authoritative game server")
    sub = parser.add_subparsers(dest="command", required=True)

    p_serve = sub.add_parser("serve", help="run the server")
    p_serve.add_argument("--config", default="config.toml", help="config file (default ./config.toml)")
    p_serve.add_argument("--port", type=int, default=None, help="override [server] port")
    p_serve.add_argument("--log-level", default="INFO")

    p_bot = sub.add_parser("bot", help="play battles against a server")
    from arena import bot

    bot.add_arguments(p_bot)

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "bot":
        return bot.main_from_args(args)
    return 2


def _serve(args) -> int:
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
    server = ArenaServer(cfg, port=args.port)
    print(f"arena: serving ws://{cfg.server.host}:{args.port or cfg.server.port}/v1 "
          f"(tick {cfg.server.tick_hz} Hz, ledger {cfg.ledger.kind}, ai {cfg.ai.kind}); Ctrl-C stops",
          file=sys.stderr)
    try:
        trio.run(server.run)
    except KeyboardInterrupt:
        print("arena: stopped", file=sys.stderr)
    except OSError as exc:
        print(f"arena: cannot serve: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
