"""`python -m arena serve`: run the server until Ctrl-C."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p) -> None:
    p.add_argument("--config", default="config.toml", help="config file (default ./config.toml)")
    p.add_argument("--port", type=int, default=None, help="override [server] port")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    p.add_argument("--demo", action="store_true",
                   help="also run DEMO BOTS of every mode in this process (arena.demo), with an operator key "
                        "made for them; for a development server")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="run N worker processes, each serving one shard world of [cluster] shards, on one "
                        "public port (PostgreSQL only; default: the number of cores when [cluster] shards is "
                        "set, else one process serving the one world; docs/SCALING.md)")
    p.add_argument("--worker-slot", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--demo-only", default="", metavar="MODES",
                   help="with --demo: only these modes' bots, comma-separated (default: every mode)")


def tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server.

    Under load the server allocates ~100k short-lived containers a second;
    with CPython's defaults that means a collection every 700 allocations and
    full collections that stalled the tick for tens of milliseconds (measured
    with `python -m arena bench duel`, see bench/RESULTS.md). Everything
    imported so far lives forever: freeze it out of every collection, and
    collect the young generation every 50,000 allocations instead of 700.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def refusal(exc: BaseException) -> str | None:
    """The message of an error that means "this server must not start here"
    (another writer holds the store, the store is corrupt, the ledger records
    serve another world), found in `exc` or the exception group around it."""
    from arena.chain.solana_store import RecordsOfAnotherWorld
    from arena.persistence.durable import RecoveryError
    from arena.persistence.store import StoreError

    found = find_error(exc, (StoreError, RecoveryError, RecordsOfAnotherWorld))
    return None if found is None else str(found)


def find_error(exc: BaseException, kinds: tuple) -> BaseException | None:
    """`exc` if it is one of `kinds`, or the first such in the exception groups around it."""
    if isinstance(exc, kinds):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            found = find_error(sub, kinds)
            if found is not None:
                return found
    return None


def main_from_args(args) -> int:
    import functools

    import trio

    from arena import logs
    from arena.config import load_config_or_say_why
    from arena.server import ArenaServer

    logs.setup(args.log_level)
    cfg = load_config_or_say_why(args.config)
    if cfg is None:
        return 2
    from arena import workers as shard_workers

    try:
        workers = shard_workers.worker_count(cfg, args.workers)
        if workers is not None and args.demo:
            raise shard_workers.WorkersRefused("--demo runs its bots inside the one server process: "
                                               "leave out --workers")
    except shard_workers.WorkersRefused as exc:
        print(f"arena: cannot start: {exc}", file=sys.stderr)
        return 2
    if workers is not None:
        if args.worker_slot is not None:
            return shard_workers.worker_main(args, cfg)
        return shard_workers.supervise_main(args, cfg, workers)
    if args.demo:
        from arena import demo

        cfg, changed = demo.demo_config(cfg)
        for line in changed:
            print(f"arena: DEMO: {line}", file=sys.stderr)
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
    if server.site is not None:
        print(f"arena: web pages at http://{cfg.server.host}:{port}/ "
              f"({', '.join(p.path for p in server.site.pages) or 'the start page only'})", file=sys.stderr)
    demo_keys = None
    if args.demo:
        demo_keys = trio.run(demo.create_keys, cfg)
        only = tuple(m for m in args.demo_only.split(",") if m)
        agents = tuple(key for role, (_, key) in demo_keys.items() if role.startswith("agent-"))
        run = functools.partial(demo.serve_with_demo_bots, server, cfg.server.host, demo_keys["operator"][1],
                                only, agents)
    else:
        run = server.run
    tune_gc()
    try:
        trio.run(run)
    except KeyboardInterrupt:
        print("arena: stopped", file=sys.stderr)
    except OSError as exc:
        print(f"arena: cannot serve: {exc}", file=sys.stderr)
        return 1
    except BaseException as exc:
        why = refusal(exc)
        if why is None:
            raise
        # A server that ran and then lost its world to another node stops; the
        # other refusals come before it serves anything.
        verb = "stopped" if server.started.is_set() else "cannot start"
        print(f"arena: {verb}: {why}", file=sys.stderr)
        return 2
    finally:
        if demo_keys is not None:
            trio.run(demo.revoke_keys, cfg, [name for name, _ in demo_keys.values()])
    return 0
