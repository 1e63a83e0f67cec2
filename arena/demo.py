"""`python -m arena serve --demo`: the server with DEMO BOTS of every mode
running in the same process, so a fresh `make run` shows live activity on
every page at once.

The bots are the ordinary ones of `python -m arena bot` (roast players,
canvas painters, lottery bettors, meme viewers, contest entrants), plus two
operators only a demo needs: a lottery host and a contest host, which
create rounds and contests with an operator API key made for them at
start-up (`demo-bots-…`, revoked when the server stops). Two of the canvas
painters are agents, with agent keys made the same way; and where
config.toml leaves the canvas's cooldown to the week's game mode (minutes),
the demo shortens it to 2 s (`demo_config`, said at start), so the canvas
visibly fills. Every line they
print is labelled `[demo bot: <mode>]`; they play with faucet money on
whatever ledger the config names, so a demo belongs on a development
server only.

Why in-process: one command, one Ctrl-C, and the bots start the moment the
server listens. A bot group that fails is logged and left stopped; it never
takes the server down.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Awaitable, Callable

import trio

from .client import ArenaRequestError, open_client

# A contest the demo host opens: joinable for a minute, then two minutes of play.
CONTEST_LEAD_MS = 60_000
CONTEST_DURATION_MS = 120_000
CONTEST_TOKENS = 6
# How often the contest host looks whether a contest is open for entries.
HOST_PAUSE_S = 10.0


def label(mode: str) -> Callable[[str], None]:
    """A log function whose lines say they come from a demo bot."""

    def log(line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} [demo bot: {mode}] {line}", file=sys.stderr, flush=True)

    return log


# The canvas's cooldown during a demo, when config.toml leaves it to the
# week's game mode (30 s to 5 min): a few painters then fill a visible
# part of the canvas in minutes, not days.
DEMO_CANVAS_COOLDOWN_MS = 2_000
CANVAS_AGENTS = 2  # of the demo's four painters, these log in as agents (API keys)


def demo_config(cfg):
    """The config a demo serves: `cfg` with the canvas's cooldown shortened
    (only where config.toml does not set one), and what was changed, said."""
    import attrs

    canvas = cfg.engine.modes.get("canvas")
    if canvas is None or canvas.cooldown_ms != -1:
        return cfg, []
    engine = cfg.engine.with_mode("canvas", attrs.evolve(canvas, cooldown_ms=DEMO_CANVAS_COOLDOWN_MS))
    return attrs.evolve(cfg, engine=engine), [
        f"[canvas] cooldown {DEMO_CANVAS_COOLDOWN_MS} ms for the demo (without --demo, the week's game mode's)"]


async def create_keys(cfg) -> dict[str, tuple[str, str]]:
    """Fresh API keys for the demo, in the store the server is about to open:
    {"operator": (name, key)} for the hosts, "agent-<n>": (name, key) for the
    canvas's agent painters. All are revoked when the server stops."""
    from arena.credentials import Credentials
    from arena.persistence.runtime import make_store

    tag = secrets.token_hex(4)
    store = make_store(cfg)
    await store.open()
    try:
        creds = Credentials(store)
        made = {"operator": (f"demo-bots-{tag}", await creds.create(f"demo-bots-{tag}", "operator"))}
        for i in range(1, CANVAS_AGENTS + 1):
            name = f"demo-painter-{i}-{tag}"
            made[f"agent-{i}"] = (name, await creds.create(name, "agent"))
        return made
    finally:
        await store.close()


async def revoke_keys(cfg, names) -> None:
    from arena.persistence.runtime import make_store

    store = make_store(cfg)
    await store.open()
    try:
        for name in names:
            await store.revoke_api_key(name)
    finally:
        await store.close()


async def contest_host(url: str, key: str, log: Callable[[str], None]) -> None:
    """Keeps one contest open for entries: when none is in registration, it
    creates one over the first tokens of the whitelist."""
    async with open_client(url) as op:
        await op.hello()
        await op.request("auth.key", {"key": key})
        tokens = [t["token"] for t in (await op.request("contest.tokens", {}))["tokens"]][:CONTEST_TOKENS]
        while True:
            listed = await op.request("match.list", {"mode": "contest", "phase": "registration"})
            if not listed["matches"]:
                now = int(time.time() * 1000)
                try:
                    made = await op.request("contest.create", {
                        "entry_fee": 100, "starts_at_ms": now + CONTEST_LEAD_MS,
                        "ends_at_ms": now + CONTEST_LEAD_MS + CONTEST_DURATION_MS,
                        "min_players": 2, "max_players": 100, "prizes_bps": [6_000, 3_000, 1_000],
                        "rake_bps": 1_000, "tokens": tokens, "portfolio_size": min(3, len(tokens))})
                    log(f"opened contest {made['contest']}: entries for {CONTEST_LEAD_MS // 1000} s, "
                        f"then {CONTEST_DURATION_MS // 1000} s on SIMULATED prices unless a real price feed is set")
                except ArenaRequestError as err:
                    log(f"cannot open a contest: {err}")
            await trio.sleep(HOST_PAUSE_S)


def groups(url: str, key: str, agent_keys: tuple[str, ...] = ()) -> dict[str, Callable[[], Awaitable]]:
    """Every demo bot group by mode: a coroutine function each."""
    from arena.bot import run_bots
    from arena.bot_contest import run_contest_bots
    from arena.bot_lottery import run_lottery_bots
    from arena.bot_meme import run_meme_bots
    from arena.canvas_bot import run_canvas_bots

    return {
        "roast": lambda: run_bots(url, 4, "bronze", 0, None, label("roast"), react=True),
        "canvas": lambda: run_canvas_bots(url, 4, 0, None, label("canvas"), api_keys=agent_keys),
        "lottery": lambda: run_lottery_bots(url, 4, 0, None, label("lottery"), key=key, draw_in_s=60.0),
        "meme": lambda: run_meme_bots(url, 3, 0, None, key, label("meme")),
        "contest-host": lambda: contest_host(url, key, label("contest")),
        "contest": lambda: run_contest_bots(url, 3, 0, None, label("contest")),
    }


async def run_group(name: str, run: Callable[[], Awaitable]) -> None:
    log = label(name)
    try:
        status = await run()
        log(f"bots ended (status {status})")
    except Exception as exc:  # a demo bot's failure is reported, never the server's
        log(f"bots stopped: {type(exc).__name__}: {exc}")


async def serve_with_demo_bots(server, host: str, key: str, only: tuple[str, ...] = (),
                               agent_keys: tuple[str, ...] = ()) -> None:
    """Run `server`; once it listens, every demo bot group (or those in `only`)."""
    async with trio.open_nursery() as nursery:
        port = await nursery.start(server.run)
        url = f"ws://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/v1"
        chosen = {n: g for n, g in groups(url, key, agent_keys).items() if not only or n.split("-")[0] in only}
        print(f"arena: DEMO BOTS on {url}: {', '.join(chosen)} (play money; Ctrl-C stops them and the server)",
              file=sys.stderr, flush=True)
        for name, run in chosen.items():
            nursery.start_soon(run_group, name, run)
