"""`python -m arena serve --demo` (`make demo`): a real server process whose
demo bots of every mode make activity appear without anything else run:
battles, canvas pixels, lottery rounds, memes and contests, checked through
the server itself (two canvas painters are agents); the bots' lines say
they are demo bots, the shortened canvas cooldown is said, and their API
keys are revoked when the server stops."""

from __future__ import annotations

import signal
import zlib
from contextlib import AsyncExitStack

import pytest
import trio
from solders.keypair import Keypair

from arena.client import ArenaRequestError, open_client
from web_support import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

# Quick meme blocks so a round shows within seconds (the canvas's cooldown
# is left to the game mode: the demo shortens it by itself).
DEMO = """
[meme]
simulated_block_ms = 1000
blocks_per_round = 5
block_poll_ms = 200
"""


async def _activity(url: str) -> dict:
    """What the server shows of each mode now."""
    async with AsyncExitStack() as stack:
        c = await stack.enter_async_context(open_client(url, keypair=Keypair()))
        await c.hello()
        await c.login()
        seen = {m: len(await c.list_matches(m)) for m in ("roast", "lottery", "contest")}
        try:
            seen["meme"] = len((await c.request("meme.round", {}))["content"])
        except ArenaRequestError:
            seen["meme"] = 0  # no round yet
        seen["canvas"] = zlib.decompress((await c.request("canvas.join", {}))["bitmap"])
        seen["agents"] = [a["agent"] for a in (await c.request("canvas.agents", {}))["agents"]]
        return seen


def test_serve_demo_runs_labelled_bots_of_every_mode(tmp_path):
    server = ServerProcess(tmp_path, DEMO, serve_args=("--demo",))
    server.start()
    try:
        async def watch():
            blank = (await _activity(server.ws))["canvas"]
            with trio.fail_after(150):
                while True:
                    seen = await _activity(server.ws)
                    if (all(seen[m] for m in ("roast", "lottery", "contest", "meme")) and seen["canvas"] != blank
                            and any(a.startswith("demo-painter-") for a in seen["agents"])):
                        return seen
                    await trio.sleep(2)

        trio.run(watch)
        log = server.log_tail(10**7)
        assert "DEMO BOTS" in log and "DEMO: [canvas] cooldown 2000 ms" in log
        for mode in ("roast", "canvas", "lottery", "meme", "contest"):
            assert f"[demo bot: {mode}]" in log, mode
    finally:
        if server.proc and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGINT)  # Ctrl-C: the server stops and revokes the demo key
            server.proc.wait(30)
        server.stop()
    keys = server.arena("keys", "list")
    demo_keys = [line for line in keys.splitlines() if line.startswith(("demo-bots-", "demo-painter-"))]
    assert len(demo_keys) == 3 and all("revoked" in line for line in demo_keys), keys
