"""`python -m arena migrate`: bring the configured store's schema up to date.

PostgreSQL needs this before the first `serve` and after an upgrade that
adds a migration (the server refuses an out-of-date schema); the embedded
SQLite store migrates itself at start, and this command does the same ahead
of time. Prints the versions applied.
"""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("--config", default="config.toml", help="config file (default ./config.toml)")


def main_from_args(args) -> int:
    import trio

    from arena.config import load_config_or_say_why
    from arena.persistence.runtime import make_store

    cfg = load_config_or_say_why(args.config)
    if cfg is None:
        return 2
    if cfg.cluster.shards:
        return migrate_shards(cfg)
    store = make_store(cfg)

    async def run():
        try:
            applied = await store.migrate()
            version = await store.schema_version()
        finally:
            await store.close()
        return applied, version

    try:
        applied, version = trio.run(run)
    except Exception as exc:  # noqa: BLE001 - report, do not trace
        print(f"arena: migrate failed ({cfg.store.kind}): {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    what = ", ".join(map(str, applied)) if applied else "nothing (up to date)"
    print(f"arena: store {cfg.store.kind}: applied {what}; schema version {version}")
    return 0


def migrate_shards(cfg) -> int:
    """A sharded cluster: create and migrate every shard's schema."""
    import trio

    from arena.persistence.shards import migrate_shards as run, shard_schema

    if cfg.store.kind != "postgres":
        print(f"arena: migrate failed: [cluster] shards = {cfg.cluster.shards} needs [store] kind = \"postgres\"",
              file=sys.stderr)
        return 2
    try:
        applied = trio.run(run, cfg.store.dsn, cfg.cluster.shards)
    except Exception as exc:  # noqa: BLE001 - report, do not trace
        print(f"arena: migrate failed (postgres shards): {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for k, versions in applied.items():
        what = ", ".join(map(str, versions)) if versions else "nothing (up to date)"
        print(f"arena: shard {k} ({shard_schema(cfg.store.dsn, k)}): applied {what}")
    return 0
