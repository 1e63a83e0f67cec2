"""`python -m arena keys`: API keys for agents and operators (arena.credentials).

    python -m arena keys create --role operator --name alice   # prints the key, once
    python -m arena keys list
    python -m arena keys revoke --name alice

Keys live in the store the config names (only a hash of each secret).
"""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("action", choices=("create", "list", "revoke"))
    p.add_argument("--config", default="config.toml", help="config file naming the store (default ./config.toml)")
    p.add_argument("--role", choices=("agent", "operator"), help="create: the key's role")
    p.add_argument("--name", help="create / revoke: the key's name (unique)")


def main_from_args(args) -> int:
    import trio

    from arena.config import load_config_or_say_why
    from arena.credentials import Credentials
    from arena.persistence.runtime import make_store

    cfg = load_config_or_say_why(args.config)
    if cfg is None:
        return 2
    if args.action in ("create", "revoke") and not args.name:
        print(f"arena: keys {args.action} needs --name", file=sys.stderr)
        return 2
    if args.action == "create" and not args.role:
        print("arena: keys create needs --role agent|operator", file=sys.stderr)
        return 2

    async def run() -> int:
        store = make_store(cfg)
        await store.open()
        try:
            if args.action == "create":
                try:
                    key = await Credentials(store).create(args.name, args.role)
                except ValueError as exc:
                    print(f"arena: {exc}", file=sys.stderr)
                    return 2
                print(key)
                print(f"arena: {args.role} key {args.name!r} created; it is shown only now", file=sys.stderr)
            elif args.action == "revoke":
                if not await store.revoke_api_key(args.name):
                    print(f"arena: no unrevoked key named {args.name!r}", file=sys.stderr)
                    return 1
                print(f"arena: key {args.name!r} revoked", file=sys.stderr)
            else:
                for row in await store.query("api_keys"):
                    state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
                    print(f"{row['name']}\t{row['role']}\t{state}")
            return 0
        finally:
            await store.close()

    try:
        return trio.run(run)
    except Exception as exc:  # noqa: BLE001 - a store that cannot be opened
        print(f"arena: keys: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
