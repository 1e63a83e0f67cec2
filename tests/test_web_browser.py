"""The web pages in a real browser: headless Chromium against a real Arena
server on 127.0.0.1 (its own process), acting as a person would (clicking
the canvas, the lobby's Watch button, the bet form) and checking both the
page's DOM and what the server holds, through the Python client.

Skipped with the reason without Chromium or Playwright, unless
`ARENA_REQUIRE_BROWSER=1` (tests/web_support.py). Screenshots of every page
go to var/screenshots (gitignored).
"""

from __future__ import annotations

import subprocess
import sys
import time
import zlib
from contextlib import AsyncExitStack

import pytest
import trio

from solders.keypair import Keypair
from arena.client import ArenaRequestError, open_client
from web_support import ROOT, console_errors, launch_browser, running_server, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CANVAS = """
[canvas]
width = 40
height = 30
cooldown_ms = 60000
"""
# Battles slow enough for a person (and a page polling its lobby) to watch.
BATTLE = """
[roast]
countdown_ms = 4000
time_limit_ms = 4000
entry_deadline_ms = 10000
scoring_timeout_ms = 5000
prompt_timeout_ms = 5000
"""


@pytest.fixture(scope="module")
def browser():
    with launch_browser() as b:
        yield b


def run(fn, *args):
    """Run a trio coroutine function (the Python client's side) to its end."""
    return trio.run(fn, *args)


async def _logged_in(url, stack, keypair=None, faucet=False):
    c = await stack.enter_async_context(open_client(url, keypair=keypair or Keypair()))
    await c.hello()
    await c.login()
    if faucet:
        await c.faucet()
    return c


def _open(browser, url: str):
    """A page in its own browser context (its own localStorage: its own dev wallet)."""
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    page = context.new_page()
    errors = console_errors(page)
    page.goto(url)
    page.wait_for_selector("#conn[data-state=open]", timeout=15_000)
    return page, errors


def _pixel(page, x: int, y: int) -> list[int]:
    return page.evaluate(
        "([x, y]) => Array.from(document.getElementById('board').getContext('2d').getImageData(x, y, 1, 1).data)",
        [x, y])


def _rgb(hex_colour: str) -> list[int]:
    n = int(hex_colour[1:], 16)
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255, 255]


def _click_cell(page, x: int, y: int, width: int, height: int) -> None:
    box = page.locator("#board").bounding_box()
    page.mouse.click(box["x"] + (x + 0.5) * box["width"] / width, box["y"] + (y + 0.5) * box["height"] / height)


def test_the_start_page_lists_every_page(browser, tmp_path):
    with running_server(tmp_path) as server:
        context = browser.new_context()
        page = context.new_page()
        errors = console_errors(page)
        page.goto(server.http + "/")
        page.wait_for_selector("#pages li a")
        titles = page.locator("#pages li a").all_inner_texts()
        assert titles == ["The weekly canvas", "Trading contests", "Lottery rounds", "Meme rounds", "Roast battles"]
        screenshot(page, "start")
        page.click("text=The weekly canvas")
        page.wait_for_selector("#board[data-canvas]", timeout=15_000)
        assert page.url == server.http + "/canvas/"
        assert errors == []
        context.close()


def test_a_pixel_placed_in_one_browser_appears_in_the_other_and_after_a_drop(browser, tmp_path):
    with running_server(tmp_path, CANVAS) as server:
        alice, alice_errors = _open(browser, server.http + "/canvas/")
        bob, bob_errors = _open(browser, server.http + "/canvas/")
        for page in (alice, bob):
            page.wait_for_selector("#board[data-canvas]")
        palette = alice.evaluate("() => Array.from(document.querySelectorAll('#palette button')).map(b => b.title.split(' ')[1])")
        assert len(palette) == 32
        assert _pixel(bob, 3, 2) == _rgb(palette[0])  # a fresh week is all colour 0

        alice.click("#palette button[data-color='5']")
        assert alice.get_attribute("#palette button[data-color='5']", "aria-checked") == "true"
        _click_cell(alice, 3, 2, 40, 30)
        alice.wait_for_function("() => document.getElementById('cooldown').textContent.startsWith('next pixel in')")
        # In the other browser, from the server's canvas:pixels event:
        bob.wait_for_function(
            "(want) => { const d = document.getElementById('board').getContext('2d').getImageData(3, 2, 1, 1).data;"
            " return d[0] === want[0] && d[1] === want[1] && d[2] === want[2]; }", arg=_rgb(palette[5]), timeout=10_000)

        async def canvas_at(x, y):
            async with AsyncExitStack() as stack:
                c = await _logged_in(server.ws, stack)
                week = await c.request("canvas.join", {})
                return zlib.decompress(week["bitmap"])[y * week["width"] + x]

        assert run(canvas_at, 3, 2) == 5
        # Within the cooldown the page says so and places nothing.
        _click_cell(alice, 10, 10, 40, 30)
        alice.wait_for_selector("#toast:has-text('Cooldown')")
        assert run(canvas_at, 10, 10) == 0
        screenshot(alice, "canvas")

        # Bob's connection drops; a pixel placed meanwhile reaches him once the SDK has resumed.
        bob.evaluate("() => window.arena.client.drop()")

        async def place(x, y, colour):
            async with AsyncExitStack() as stack:
                c = await _logged_in(server.ws, stack)
                await c.request("canvas.join", {})
                await c.request("canvas.place", {"x": x, "y": y, "color": colour})

        run(place, 7, 7, 2)
        bob.wait_for_function("() => document.getElementById('conn').textContent.includes('resumed')", timeout=15_000)
        bob.wait_for_function(
            "(want) => { const d = document.getElementById('board').getContext('2d').getImageData(7, 7, 1, 1).data;"
            " return d[0] === want[0] && d[1] === want[1] && d[2] === want[2]; }", arg=_rgb(palette[2]), timeout=10_000)
        assert _pixel(alice, 7, 7) == _rgb(palette[2])
        screenshot(bob, "canvas-resumed")

        # Zoomed in and panned, a click still lands on the cell under the pointer.
        before = bob.get_attribute("#board", "style")
        bob.click("#zoom-in")
        bob.click("#zoom-in")
        view = bob.locator("#viewport").bounding_box()
        bob.mouse.move(view["x"] + 100, view["y"] + 100)
        bob.mouse.down()
        bob.mouse.move(view["x"] + 140, view["y"] + 120, steps=5)
        bob.mouse.up()
        assert bob.get_attribute("#board", "style") != before
        box = bob.locator("#board").bounding_box()
        cell_w, cell_h = box["width"] / 40, box["height"] / 30
        assert cell_w > view["width"] / 40  # zoomed in past "fit"
        # the cell at the viewport's centre, whatever the zoom and pan
        cx, cy = view["x"] + view["width"] / 2, view["y"] + view["height"] / 2
        x, y = int((cx - box["x"]) // cell_w), int((cy - box["y"]) // cell_h)
        bob.click("#palette button[data-color='9']")
        bob.mouse.click(box["x"] + (x + 0.5) * cell_w, box["y"] + (y + 0.5) * cell_h)
        bob.wait_for_function("() => document.getElementById('cooldown').textContent.startsWith('next pixel in')")
        assert run(canvas_at, x, y) == 9
        assert alice_errors == [] and bob_errors == []


def test_a_battle_played_by_two_bots_is_watched_round_by_round(browser, tmp_path):
    with running_server(tmp_path, BATTLE) as server:
        page, errors = _open(browser, server.http + "/roast/")
        page.wait_for_selector("#matches td.empty")  # the lobby's empty state
        bots = subprocess.Popen([sys.executable, "-m", "arena", "bot", "--url", server.ws, "--count", "2",
                                 "--battles", "1", "--seed", "3"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            page.click("#matches button.watch", timeout=20_000)
            page.wait_for_selector("#watch:not([hidden])")
            page.wait_for_selector("#prompt:not(:empty)", timeout=20_000)
            page.click("button.react[data-emoji='🔥']")
            page.wait_for_function("() => document.getElementById('reaction-counts').textContent.includes('🔥 1')")
            # a tip to player 1, from this page's wallet (play money from the faucet first)
            page.click("#faucet")
            page.wait_for_function("() => document.getElementById('balance').textContent === '10000'")
            page.fill("#tip-amount", "100")
            page.click("button[data-tip='0']")
            page.wait_for_selector("#toast:has-text('Tipped')")
            page.wait_for_function("() => document.getElementById('balance').textContent === '9900'")
            page.wait_for_selector("#winner:not(:empty)", timeout=60_000)
            out, _ = bots.communicate(timeout=60)
        finally:
            if bots.poll() is None:
                bots.kill()
                bots.wait()
        match = page.evaluate("() => location.hash.slice(1)")
        player1 = page.get_attribute("#p1 .name", "title")
        reveals = page.locator("#rounds li.score-revealed")
        assert reveals.count() >= 2, out
        assert set(page.locator("#rounds li.score-revealed").evaluate_all(
            "els => els.map(e => e.dataset.round)")) == {"1", "2", "3"}
        screenshot(page, "battle")

        async def result():
            async with AsyncExitStack() as stack:
                c = await _logged_in(server.ws, stack)
                for _ in range(100):
                    page_ = await c.history(player1, mode="roast", limit=5)
                    done = [m for m in page_["matches"] if m["match"] == match]
                    if done:
                        return done[0]["result"]
                    await trio.sleep(0.1)
                raise AssertionError("the battle is not in the history")

        outcome = run(result)
        winner = page.get_attribute("#winner", "data-winner")
        assert winner == (outcome["winner"] or ""), outcome
        assert outcome["reason"] == "completed", outcome
        assert page.inner_text("#p1 .score") == str(outcome["scores"][player1])
        assert errors == []


def _create_round(server, draw_ms: int) -> str:
    """An operator (an API key made with the CLI) opens a round; its id."""
    key = server.arena("keys", "create", "--role", "operator", "--name", f"web-test-{draw_ms}").strip()

    async def create():
        async with AsyncExitStack() as stack:
            op = await stack.enter_async_context(open_client(server.ws))
            await op.hello()
            await op.request("auth.key", {"key": key})
            return (await op.request("lottery.create", {"game": "powerball", "draw_time_ms": draw_ms,
                                                         "proposition": {"kind": "bonus_parity"}}))["round"]

    return run(create)


def test_a_bet_placed_in_the_lottery_page_is_in_the_pool(browser, tmp_path):
    with running_server(tmp_path) as server:
        round_id = _create_round(server, int(time.time() * 1000) + 3 * 3600 * 1000)
        page, errors = _open(browser, server.http + "/lottery/")
        page.click(f"#rounds tr[data-round='{round_id}'] button.open", timeout=15_000)
        page.wait_for_selector("#state[data-state=open]")
        assert "bonus ball is odd" in page.inner_text("#proposition")
        # No money yet: the page says what is wrong.
        page.fill("#bet-amount", "250")
        page.click("#bet-button")
        page.wait_for_selector("#toast:has-text('Not enough tokens')")
        page.click("#faucet")
        page.wait_for_function("() => document.getElementById('balance').textContent === '10000'")
        page.click("#bet-button")
        page.wait_for_selector("#my-bets tr[data-bet]")
        page.wait_for_function("() => document.getElementById('yes-total').textContent === '250'", timeout=10_000)
        assert page.inner_text("#balance") == "9750"
        screenshot(page, "lottery")

        async def pool():
            async with AsyncExitStack() as stack:
                c = await _logged_in(server.ws, stack)
                return await c.request("lottery.pool", {"round": round_id})

        assert run(pool)["yes"] == {"total": 250, "matched": 0}
        # The server goes away: the page says it is reconnecting, not that all is well.
        server.stop()
        page.wait_for_selector("#conn[data-state=reconnecting]", timeout=10_000)
        assert "reconnecting" in page.inner_text("#conn")
        assert [e for e in errors if "WebSocket" not in e] == []


# A round whose draw is seconds away, its result asked for at once (the
# default draw feed is simulated).
QUICK_ROUND = """
[lottery]
lock_lead_ms = 2000
result_delay_ms = 0
result_retry_ms = 500
"""


def test_a_lottery_round_is_followed_in_the_page_to_its_result_and_payout(browser, tmp_path):
    with running_server(tmp_path, QUICK_ROUND) as server:
        draw = int(time.time() * 1000) + 9000
        round_id = _create_round(server, draw)
        page, errors = _open(browser, server.http + "/lottery/#" + round_id)
        page.wait_for_selector("#state[data-state=open]")
        page.click("#faucet")
        page.wait_for_function("() => document.getElementById('balance').textContent === '10000'")
        page.fill("#bet-amount", "300")
        page.click("#bet-button")
        page.wait_for_selector("#my-bets tr[data-bet]")

        async def bet_no():
            async with AsyncExitStack() as stack:
                c = await _logged_in(server.ws, stack, faucet=True)
                built = await c.request("lottery.bet.build", {"round": round_id, "side": "no", "amount": 300})
                return (await c.request("lottery.bet.confirm", {"round": round_id, "tx": built["tx"],
                                                                "signature": c.sign(built["tx"])}))["status"]

        assert run(bet_no) in ("confirmed", "pending")
        page.wait_for_function("() => document.getElementById('no-total').textContent === '300'", timeout=10_000)
        page.wait_for_selector("#state[data-state=locked], #state[data-state=awaiting_result], "
                               "#state[data-state=finalized], #state[data-state=settled]", timeout=15_000)
        page.wait_for_selector("#outcome:not(:empty)", timeout=30_000)
        outcome = page.inner_text("#outcome")
        assert "SIMULATED" in outcome  # the default feed's result says what it is
        won = "“yes” wins" in outcome
        # the winner of the matched pair takes both stakes less 2% of the loser's: 600 - 6
        page.wait_for_function("(want) => document.getElementById('balance').textContent === want",
                               arg=str(10_000 - 300 + (594 if won else 0)), timeout=15_000)
        page.wait_for_selector("#state[data-state=settled]", timeout=15_000)
        screenshot(page, "lottery-settled")
        assert [e for e in errors if "WebSocket" not in e] == []


# Contests short enough to follow in a test: a minute's minimum duration is
# the default; prices from the (simulated) default feed every few ticks.
QUICK_CONTEST = """
[contest]
min_duration_ms = 1000
price_every_ticks = 4
"""


def _operator_request(server, name: str, type_: str, body: dict) -> dict:
    """One request as an operator (an API key made with the CLI)."""
    key = server.arena("keys", "create", "--role", "operator", "--name", name).strip()

    async def call():
        async with AsyncExitStack() as stack:
            op = await stack.enter_async_context(open_client(server.ws))
            await op.hello()
            await op.request("auth.key", {"key": key})
            return await op.request(type_, body)

    return run(call)


def _weights(page, weights: dict) -> None:
    for token, weight in weights.items():
        page.fill(f"#portfolio tr[data-token='{token}'] input.weight", str(weight))


def _contest_tokens(server) -> list[str]:
    """The server's token whitelist (contest.tokens), in its order."""
    async def tokens():
        async with AsyncExitStack() as stack:
            c = await _logged_in(server.ws, stack)
            return [t["token"] for t in (await c.request("contest.tokens", {}))["tokens"]]

    return run(tokens)


def _rival_joins(server, cid: str, token: str) -> str:
    """Another player (the Python client) joins with all its weight on `token`; its wallet."""
    async def join():
        async with AsyncExitStack() as stack:
            c = await _logged_in(server.ws, stack, faucet=True)
            built = await c.request("contest.join.build", {"contest": cid, "portfolio": [
                {"token": token, "weight_bps": 10_000}]})
            await c.request("contest.join.confirm", {"contest": cid, "tx": built["tx"],
                                                     "signature": c.sign(built["tx"])})
            return c.wallet

    return run(join)


def test_a_contest_is_joined_in_the_page_and_followed_to_its_prizes(browser, tmp_path):
    with running_server(tmp_path, QUICK_CONTEST) as server:
        tokens = _contest_tokens(server)
        now = int(time.time() * 1000)
        start, end = now + 20_000, now + 28_000
        cid = _operator_request(server, "web-contest", "contest.create", {
            "entry_fee": 100, "starts_at_ms": start, "ends_at_ms": end, "min_players": 2, "max_players": 10,
            "prizes_bps": [7_000, 3_000], "rake_bps": 1_000, "tokens": tokens[:3], "portfolio_size": 2})["contest"]
        page, errors = _open(browser, server.http + "/contest/")
        page.click(f"#contests tr[data-contest='{cid}'] button.open", timeout=15_000)
        page.wait_for_selector("#state[data-state=registration]")
        assert page.locator("#portfolio tr[data-token]").count() == 3
        # Weights that do not add up to 10,000: said so, nothing sent.
        _weights(page, {tokens[0]: 5_000})
        page.click("#join-button")
        page.wait_for_selector("#join-error:has-text('exactly 10,000')")
        _weights(page, {tokens[0]: 6_000, tokens[1]: 2_000, tokens[2]: 2_000})
        page.click("#join-button")
        page.wait_for_selector("#join-error:has-text('At most 2 tokens')")
        _weights(page, {tokens[2]: 0})
        page.locator(f"#portfolio tr[data-token='{tokens[2]}'] input.pick").uncheck()
        _weights(page, {tokens[1]: 4_000})
        assert page.get_attribute("#weight-sum", "data-ok") == "true"
        # No money yet.
        page.click("#join-button")
        page.wait_for_selector("#join-error:has-text('Not enough tokens')")
        page.click("#faucet")
        page.wait_for_function("() => document.getElementById('balance').textContent === '10000'")
        # A token outside the contest's list (a hostile page edit): the server's reason is shown.
        page.evaluate("([a, b]) => document.querySelector(`#portfolio tr[data-token='${a}']`).dataset.token = b",
                      [tokens[1], tokens[4]])
        page.click("#join-button")
        page.wait_for_selector("#join-error:has-text('refused this portfolio')")
        page.evaluate("([a, b]) => document.querySelector(`#portfolio tr[data-token='${b}']`).dataset.token = a",
                      [tokens[1], tokens[4]])
        page.click("#join-button")
        page.wait_for_selector("#joined:not(:empty)")
        assert page.inner_text("#join-error") == ""
        page.wait_for_function("() => document.getElementById('balance').textContent === '9900'")
        me = page.evaluate("() => window.arena.client.wallet")

        other = _rival_joins(server, cid, tokens[2])
        page.wait_for_selector("#state[data-state=active]", timeout=30_000)
        page.wait_for_function("() => document.querySelectorAll('#rankings tr[data-wallet]').length === 2",
                               timeout=15_000)
        assert page.get_attribute("#rankings-state", "data-stale") == "false"
        ranked = page.locator("#rankings tr[data-wallet]").evaluate_all("rows => rows.map(r => r.dataset.wallet)")
        assert set(ranked) == {me, other}
        screenshot(page, "contest-live")
        page.wait_for_selector("#state[data-state=settled]", timeout=40_000)
        page.wait_for_selector("#prizes li[data-wallet]")

        async def final():
            async with AsyncExitStack() as stack:
                c = await _logged_in(server.ws, stack)
                return await c.request("contest.get", {"contest": cid})

        view = run(final)
        prizes = {p["wallet"]: p["amount"] for p in view["result"]["prizes"]}
        shown = page.locator("#prizes li[data-wallet]").evaluate_all("rows => rows.map(r => r.dataset.wallet)")
        assert shown == [p["wallet"] for p in view["result"]["prizes"]]
        page.wait_for_function("(want) => document.getElementById('balance').textContent === want",
                               arg=str(9_900 + prizes.get(me, 0)), timeout=15_000)
        screenshot(page, "contest-settled")
        assert errors == []


# Rounds of ten one-second blocks on the simulated chain, watched at 1 a second.
QUICK_MEME = """
[meme]
simulated_block_ms = 1000
blocks_per_round = 10
block_poll_ms = 200
rate_per_s = 1
"""


def _picture() -> bytes:
    import io

    from PIL import Image

    im = Image.new("RGB", (96, 96))
    im.putdata([(x * 2 % 256, y * 2 % 256, (x + y) % 256) for y in range(96) for x in range(96)])
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def test_a_meme_is_watched_bought_and_its_round_paid_in_the_page(browser, tmp_path):
    with running_server(tmp_path, QUICK_MEME) as server:
        seller = Keypair()
        key = server.arena("keys", "create", "--role", "operator", "--name", "web-meme").strip()

        async def upload_and_list():
            async with AsyncExitStack() as stack:
                s = await _logged_in(server.ws, stack, keypair=seller)
                async def current() -> list:
                    try:
                        return (await s.request("meme.round", {}))["content"]
                    except ArenaRequestError:  # wrong_state until the first height opens a round
                        return []

                await current()  # opens the hall
                op = await stack.enter_async_context(open_client(server.ws))
                await op.hello()
                await op.request("auth.key", {"key": key})
                cid = (await op.request("content.upload", {"title": "a cat on a keyboard", "media": _picture(),
                                                           "media_type": "image/png", "owner": s.wallet}))["content"]
                with trio.fail_after(60):
                    while (await s.request("content.get", {"content": cid}))["state"] != "ready":
                        await trio.sleep(0.2)
                    while cid not in await current():
                        await trio.sleep(0.2)
                await s.request("market.list", {"content": cid, "price": 50})
                return cid

        cid = run(upload_and_list)
        page, errors = _open(browser, server.http + "/meme/")
        item = f"#contents li[data-content='{cid}']"
        page.wait_for_selector(item, timeout=15_000)
        assert page.get_attribute(item, "data-price") == "50"
        # Watching with nothing deposited is refused, in words.
        page.click(f"{item} button.watch")
        page.wait_for_selector("#toast:not(:empty)")
        assert page.get_attribute("#watching", "data-content") == ""
        page.click("#faucet")
        page.wait_for_function("() => document.getElementById('balance').textContent === '10000'")
        page.fill("#deposit-amount", "60")
        page.click("#deposit-button")
        page.wait_for_function("() => document.getElementById('view-balance').textContent === '60'", timeout=10_000)
        page.click(f"{item} button.watch")
        page.wait_for_selector(f"#watching[data-content='{cid}']")
        page.wait_for_function("() => Number(document.getElementById('charged').dataset.seconds) >= 3", timeout=20_000)
        seconds = int(page.get_attribute("#charged", "data-seconds"))
        assert int(page.inner_text("#view-balance")) <= 60 - 1
        screenshot(page, "meme-watching")
        # Stop (if the round did not just stop it), then buy the meme from its seller.
        if page.get_attribute("#watching", "data-content") == cid:
            page.click("#stop-button")
        page.wait_for_selector("#watching[data-content='']")
        page.click(f"{item} button.buy")
        me = page.evaluate("() => window.arena.client.wallet")
        page.wait_for_selector(f"#contents li[data-content='{cid}'][data-owner='{me}']", timeout=15_000)
        page.wait_for_function("() => document.getElementById('balance').textContent === String(10000 - 60 - 50)",
                               timeout=10_000)

        async def server_view():
            async with AsyncExitStack() as stack:
                c = await _logged_in(server.ws, stack)
                return await c.request("content.get", {"content": cid})

        got = run(server_view)
        assert got["owner"] == me and got["price"] is None and got["view_seconds"] >= seconds
        # The round ends on the simulated chain: its pool is shared by view-seconds, shown in the page.
        page.wait_for_selector("#last-round[data-round]", timeout=30_000)
        page.wait_for_selector("#rewards li[data-wallet]", timeout=10_000)
        screenshot(page, "meme-round-ended")
        assert errors == []


def test_the_contest_page_marks_rankings_stale_when_the_market_fails(browser, tmp_path):
    from feed_http import FeedSources
    from test_contest_e2e import Market

    with FeedSources() as sources:
        market = Market({})
        sources.handlers["jup"] = market
        extra = f"""
[contest]
min_duration_ms = 1000
price_feed = "market"
price_every_ticks = 4
stale_after_ms = 1000
[feeds.market]
kind = "http"
consensus = "first"
decimals = 6
deadline_ms = 400
timeout_ms = 200
retry_ms = 100
failure_threshold = 3
reset_s = 1
sources = [{{name = "jup", url = "{sources.url('jup', '/price')}?ids={{tokens}}", value_path = "data.{{*tokens}}.price"}}]
"""
        with running_server(tmp_path, extra) as server:
            tokens = _contest_tokens(server)
            market.prices.update({t: "1.000000" for t in tokens})
            now = int(time.time() * 1000)
            cid = _operator_request(server, "web-stale", "contest.create", {
                "entry_fee": 100, "starts_at_ms": now + 12_000, "ends_at_ms": now + 600_000, "min_players": 2,
                "max_players": 10, "prizes_bps": [10_000], "rake_bps": 1_000, "tokens": tokens[:2],
                "portfolio_size": 1})["contest"]
            page, errors = _open(browser, server.http + "/contest/#" + cid)
            page.wait_for_selector("#state[data-state=registration]")
            page.click("#faucet")
            page.wait_for_function("() => document.getElementById('balance').textContent === '10000'")
            page.locator(f"#portfolio tr[data-token='{tokens[0]}'] input.pick").check()
            _weights(page, {tokens[0]: 10_000})
            page.click("#join-button")
            page.wait_for_selector("#joined:not(:empty)")

            _rival_joins(server, cid, tokens[1])
            page.wait_for_selector("#state[data-state=active]", timeout=30_000)
            page.wait_for_selector("#rankings-state[data-stale=false]:has-text('live')", timeout=15_000)
            market.down = True  # the only price source fails: the prices go stale
            page.wait_for_selector("#rankings-state[data-stale=true]", timeout=20_000)
            assert "STALE" in page.inner_text("#rankings-state")
            page.wait_for_timeout(4_000)  # past the page's own 3 s re-read of contest.get: still stale
            assert page.get_attribute("#rankings-state", "data-stale") == "true"
            assert page.locator("#rankings tr[data-wallet]").count() == 2  # still shown, as last known
            screenshot(page, "contest-stale")
            assert errors == []
