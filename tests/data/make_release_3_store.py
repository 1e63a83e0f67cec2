"""How tests/data/release-3/ was made: a store written by the release that
first had the canvas and the lottery (commit e6c3ff7), with a canvas week
holding placements by two wallets and an agent, and a lottery round with a
matched bet on each side in escrow, so a later release can be checked to
recover it, verify its snapshots and play on. Run with that release's code
first on the path:

    git worktree add /tmp/rel3 e6c3ff7
    PYTHONPATH=/tmp/rel3 python tests/data/make_release_3_store.py OUT_DIR

The wallets' keys and the operator's API key (play money on the embedded
ledger, a throwaway store) are written beside it.
"""

from __future__ import annotations

import json
import sys
import time
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
seed = 7

[ledger]
faucet_amount = 10000

[media]
path = "{out}/media"

[store]
path = "{out}/arena.sqlite"
snapshot_every_ticks = 10
keep_snapshots = 3
"""

PIXELS = [(3, 4, 5), (10, 10, 2), (0, 0, 1)]  # (x, y, colour): one each for alice, bob and the agent


async def make(out: Path) -> None:
    (out / "config.toml").write_text(CONFIG.format(out=out))
    cfg = load_config(out / "config.toml")
    server = ArenaServer(cfg, port=0)
    keys = [Keypair(), Keypair()]
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.run)
        url = f"ws://127.0.0.1:{port}/v1"
        operator_key = await server.credentials.create("ops", "operator")
        agent_key = await server.credentials.create("painter", "agent")
        async with open_client(url) as a, open_client(url) as b, open_client(url) as op, \
                open_client(url) as agent:
            for c, kp in ((a, keys[0]), (b, keys[1])):
                await c.hello()
                await c.login(kp)
                await c.faucet()
            for c, key in ((op, operator_key), (agent, agent_key)):
                await c.hello()
                await c.request("auth.key", {"key": key})
            for c, (x, y, colour) in zip((a, b, agent), PIXELS):
                await c.request("canvas.join")
                await c.request("canvas.place", {"x": x, "y": y, "color": colour})
            draw = (int(time.time()) + 3 * 86_400) * 1000  # far ahead: the round stays open
            rid = (await op.request("lottery.create", {"game": "powerball", "draw_time_ms": draw,
                                                       "proposition": {"kind": "bonus_parity"}}))["round"]
            for c, side, amount in ((a, "yes", 300), (b, "no", 200)):
                built = await c.request("lottery.bet.build", {"round": rid, "side": side, "amount": amount})
                await c.request("lottery.bet.confirm", {"round": rid, "tx": built["tx"],
                                                        "signature": c.sign(built["tx"])})
            await trio.sleep(2)  # a few snapshots after the last input
        nursery.cancel_scope.cancel()
    (out / "secrets.json").write_text(json.dumps({
        "wallets": [list(bytes(k)) for k in keys], "operator_key": operator_key, "agent_key": agent_key,
        "round": rid, "pixels": PIXELS}))
    (out / "config.toml").unlink()
    (out / "arena.sqlite.lock").unlink(missing_ok=True)
    import sqlite3

    with sqlite3.connect(out / "arena.sqlite") as db:  # small enough to keep in the repository
        db.execute("VACUUM")


if __name__ == "__main__":
    target = Path(sys.argv[1]).resolve()
    target.mkdir(parents=True, exist_ok=True)
    trio.run(make, target)
