"""How tests/data/previous-release/ was made: a store written by the release
before modes had a registry (commit 5b57255), with a battle in the middle of
its first round, a `[roast]` settings change journaled as the old
`RoastSettingsChanged` input, and the embedded ledger's escrow holding both
entry fees. Run with that release's code first on the path:

    git worktree add /tmp/prev 5b57255
    PYTHONPATH=/tmp/prev python tests/data/make_previous_release_store.py OUT_DIR

The wallets' keys (play money on the embedded ledger) are written beside
the store, so the test can finish the battle.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import trio
from solders.keypair import Keypair

from arena.client import open_client
from arena.config import load_config
from arena.server import ArenaServer

CONFIG = """
[server]
port = 0
tick_hz = 20

[engine]
seed = 5

[roast]
countdown_ms = 100
time_limit_ms = {limit}
entry_deadline_ms = 60000
disconnect_grace_ms = 600000

[ledger]
faucet_amount = 10000

[media]
path = "{out}/media"

[store]
path = "{out}/arena.sqlite"
snapshot_every_ticks = 10
"""


async def run(out: Path, limit: int, play) -> None:
    (out / "config.toml").write_text(CONFIG.format(limit=limit, out=out))
    cfg = load_config(out / "config.toml")
    server = ArenaServer(cfg, port=0)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        url = f"ws://127.0.0.1:{server.port}/v1"
        await play(url, server)
        await trio.sleep(1.5)  # a snapshot and the journal after it are durable
        nursery.cancel_scope.cancel()


async def main(out: Path) -> None:
    keys = [Keypair(), Keypair()]

    async def first(url, server):
        async with open_client(url) as a, open_client(url) as b:
            for c, kp in ((a, keys[0]), (b, keys[1])):
                await c.hello()
                await c.login(kp)
                await c.faucet()
            await a.queue("bronze")
            await b.queue("bronze")
            _, found = await a.next_event("match.found")
            for c in (a, b):
                await c.pay_entry(found["match"])
            await a.next_event("battle:round_start", match=found["match"], timeout=30)
            await trio.sleep(0.3)
            await a.submit(found["match"], 1, "Your code is so old it still apologizes to punch cards.")

    async def second(url, server):  # a changed [roast] time_limit_ms: journaled on the first tick
        await trio.sleep(0.5)

    await run(out, 600_000, first)
    await run(out, 590_000, second)
    (out / "wallets.json").write_text(json.dumps([list(bytes(k)) for k in keys]))


if __name__ == "__main__":
    target = Path(sys.argv[1]).resolve()
    target.mkdir(parents=True, exist_ok=True)
    trio.run(main, target)
