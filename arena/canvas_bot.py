"""`python -m arena bot --mode canvas --count N`: agents that draw on the weekly canvas.

Each bot logs in (a fresh wallet key, or an agent's API key with
`--api-key`), joins the canvas, and draws shapes one pixel per cooldown:
rectangle outlines, filled squares, circles, lines, crosses and
checkerboards in one colour each, somewhere on the canvas. It keeps its own
copy of the canvas (fetched in parts, then every `canvas:pixels` event), so
a pixel that already has the shape's colour costs no placement. `week_reset` and a canvas `match.snapshot` (after
a resume the server could not replay) make it join again. `--pixels K`
stops each bot after K placements (0 = until Ctrl-C); `--show SECONDS`
has the first painter print the canvas as text (`thumbnail`) that often.

Only the wire protocol is used (through `arena.client`), so the bot works
against any server that follows PROTOCOL.md ("Weekly canvas").
"""

from __future__ import annotations

import math
import random
import secrets
import zlib
from collections.abc import Callable

import trio
import trio_websocket

from arena.bot import REQUEST_TIMEOUT, default_log, request_with_retries, run_fleet
from arena.client import ArenaClient, ArenaConnectionClosed, ArenaRequestError, ArenaTimeout, open_client, short_wallet

RECONNECT_WINDOW = 25.0
RETRYABLE = ("rate_limited", "overloaded")
SHAPES = ("outline", "square", "circle", "line", "cross", "checker")
PIXEL_SIZE = 5  # a placement in `canvas:pixels`: x, y (uint16 big-endian), colour (uint8)


def pixels_of(blob: bytes) -> list[tuple[int, int, int]]:
    """The placements of one `canvas:pixels` body's `pixels`, in order."""
    return [(int.from_bytes(blob[i:i + 2], "big"), int.from_bytes(blob[i + 2:i + 4], "big"), blob[i + 4])
            for i in range(0, len(blob) - PIXEL_SIZE + 1, PIXEL_SIZE)]


def shape_plan(rng: random.Random, width: int, height: int, colours: int,
               kind: str | None = None) -> tuple[str, list[tuple[int, int, int]]]:
    """One shape to draw: its kind and its pixels (x, y, colour) in drawing
    order, each once, all inside the canvas and in one colour that is not
    the background (colour 0) when the palette has another.

    Every shape is one 8-connected piece whose pixels follow each other
    along it (a drawing, not noise): size from 3 pixels up to a fifth of the
    smaller side (at most 24), clipped to the canvas."""
    kind = kind or rng.choice(SHAPES)
    colour = rng.randrange(1, colours) if colours > 1 else 0
    side = max(1, min(width, height))
    size = max(1, min(24, max(3, side // 5), side))
    x0 = rng.randrange(0, max(1, width - size + 1))
    y0 = rng.randrange(0, max(1, height - size + 1))
    pts: list[tuple[int, int]] = []
    if kind == "outline":
        for i in range(size):
            pts.append((x0 + i, y0))
        for j in range(1, size):
            pts.append((x0 + size - 1, y0 + j))
        for i in range(size - 2, -1, -1):
            pts.append((x0 + i, y0 + size - 1))
        for j in range(size - 2, 0, -1):
            pts.append((x0, y0 + j))
    elif kind == "square":
        for j in range(size):  # boustrophedon: each pixel next to the one before
            row = range(size) if j % 2 == 0 else range(size - 1, -1, -1)
            pts += [(x0 + i, y0 + j) for i in row]
    elif kind == "circle":
        r = (size - 1) / 2
        cx, cy = x0 + r, y0 + r
        steps = max(8, int(8 * r))
        for k in range(steps):
            a = 2 * math.pi * k / steps
            pts.append((int(round(cx + r * math.cos(a))), int(round(cy + r * math.sin(a)))))
    elif kind == "line":
        horizontal = rng.random() < 0.5
        pts = [(x0 + i, y0 + size // 2) if horizontal else (x0 + i, y0 + i) for i in range(size)]
    elif kind == "cross":
        mid = size // 2
        pts = [(x0 + mid, y0 + j) for j in range(size)]
        # the bar outwards from the centre, so each pixel touches one drawn before
        pts += [(x0 + i, y0 + mid) for i in range(mid - 1, -1, -1)]
        pts += [(x0 + i, y0 + mid) for i in range(mid + 1, size)]
    elif kind == "checker":
        for j in range(size):
            row = range(size) if j % 2 == 0 else range(size - 1, -1, -1)
            pts += [(x0 + i, y0 + j) for i in row if (i + j) % 2 == 0]
    else:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}, got {kind!r}")
    seen: set[tuple[int, int]] = set()
    plan = []
    for x, y in pts:
        if 0 <= x < width and 0 <= y < height and (x, y) not in seen:
            seen.add((x, y))
            plan.append((x, y, colour))
    return kind, plan


SHADES = " .:-=+*#%@"


def thumbnail(board: bytes, width: int, height: int, cols: int = 64, rows: int = 20) -> list[str]:
    """The canvas as text, `cols` × `rows` characters at most: each stands for
    a block of pixels, darker the more of them are not the background
    (colour 0): " " none, "@" all. So a terminal shows the canvas filling up."""
    cols, rows = max(1, min(cols, width)), max(1, min(rows, height))
    out = []
    for r in range(rows):
        y0, y1 = r * height // rows, max(r * height // rows + 1, (r + 1) * height // rows)
        line = []
        for c in range(cols):
            x0, x1 = c * width // cols, max(c * width // cols + 1, (c + 1) * width // cols)
            painted = sum(1 for y in range(y0, y1) for b in board[y * width + x0:y * width + x1] if b)
            share = painted / ((y1 - y0) * (x1 - x0))
            line.append(SHADES[math.ceil(share * (len(SHADES) - 1))])  # any paint: at least "."
        out.append("".join(line))
    return out


class CanvasFleet:
    def __init__(self, show_every: float = 0.0) -> None:
        self.show_every = show_every  # seconds between the first painter's thumbnails (0: none)
        self.placed = 0
        self.shapes = 0
        self.failed = 0


class CanvasBotFailed(Exception):
    """This bot cannot go on."""


class CanvasBot:
    """One agent: a connection, a copy of the canvas, the shape it is drawing."""

    def __init__(self, index: int, fleet: CanvasFleet, url: str, pixels: int, seed: int,
                 log: Callable[[str], None], *, api_key: str | None = None, keypair=None) -> None:
        from solders.keypair import Keypair

        self.name = f"painter{index}"
        self.fleet = fleet
        self.url = url
        self.limit = pixels
        self.rng = random.Random(f"{seed}:canvas:{index}")
        self._log = log
        self.api_key = api_key
        self.keypair = keypair or Keypair()
        self.wallet = "key:?" if api_key else str(self.keypair.pubkey())
        self.session: str | None = None
        self.last_seq = 0
        self.client: ArenaClient | None = None
        # the canvas as this bot knows it
        self.canvas_id = ""
        self.width = self.height = 0
        self.colours = 0
        self.cooldown_ms = 0
        self.board = bytearray()
        self.joined = False
        self.next_place_at = 0.0  # trio clock
        # drawing
        self.shape = ""
        self.plan: list[tuple[int, int, int]] = []
        self.placed = 0
        self.shapes = 0
        self.next_show = 0.0  # trio clock of the next thumbnail (the first painter's only)

    def log(self, msg: str) -> None:
        self._log(f"{self.name} {short_wallet(self.wallet)} {msg}")

    def finished(self) -> bool:
        return self.limit > 0 and self.placed >= self.limit

    async def call(self, c: ArenaClient, type_: str, body: dict | None = None):
        # (cooldown_active is the painter's to handle: it waits, then draws on)
        return await request_with_retries(c, type_, body, CanvasBotFailed, retryable=RETRYABLE,
                                          wait_ms=200, min_s=0.02, max_s=5.0)

    # -- lifecycle ---------------------------------------------------------------------
    async def run(self) -> bool:
        try:
            await self._run()
            return True
        except CanvasBotFailed as exc:
            self.log(f"ERROR {exc}")
        except ArenaRequestError as exc:
            self.log(f"ERROR unexpected error reply: {exc.code}: {exc.message}")
        except Exception as exc:  # noqa: BLE001 - one bot's failure must not stop the others
            self.log(f"ERROR crashed: {exc!r}")
        self.fleet.failed += 1
        return False

    async def _run(self) -> None:
        drop_at: float | None = None
        attempt = 0
        while not self.finished():
            try:
                async with open_client(self.url, keypair=self.keypair, client_name=f"arena-bot/{self.name}",
                                       connect_timeout=5, keep_events=False) as c:
                    self.client = c
                    await self._start_session(c)
                    drop_at, attempt = None, 0
                    await self._join(c)
                    await self._draw(c)
                    return
            except (ArenaConnectionClosed, trio_websocket.HandshakeError, OSError) as exc:
                if self.client is None:
                    raise CanvasBotFailed(f"cannot connect to {self.url}: {exc}") from None
                self.last_seq = max(self.last_seq, self.client.last_seq)
                now = trio.current_time()
                if drop_at is None:
                    drop_at = now
                    self.log(f"connection lost ({exc}); reconnecting")
                if now - drop_at > RECONNECT_WINDOW:
                    raise CanvasBotFailed(f"could not reconnect within {RECONNECT_WINDOW:.0f}s") from None
                attempt += 1
                await trio.sleep(min(0.25 * 2 ** attempt, 4.0))

    async def _start_session(self, c: ArenaClient) -> None:
        if self.session is not None:
            try:
                r = await c.resume(self.session, self.last_seq)
                self.log(f"resumed session (replayed {r.get('replayed')} events)")
                return
            except ArenaRequestError as exc:
                self.log(f"session.resume refused ({exc.code}); logging in again")
                self.session = None
        hello = await c.hello()
        if self.api_key:
            try:
                body = await c.request("auth.key", {"key": self.api_key}, timeout=REQUEST_TIMEOUT)
            except ArenaRequestError as exc:
                raise CanvasBotFailed(f"auth.key refused: {exc.code}: {exc.message}") from None
            c.session = body["session"]
            self.wallet = body["user"]["id"]
        else:
            await c.login()
        self.session = c.session
        self.last_seq = 0
        self.log(f"logged in to {hello.get('server')}")

    async def _join(self, c: ArenaClient) -> None:
        # In parts (`chunked`): a full canvas of noise is ~0.7 MB in one piece.
        j = await self.call(c, "canvas.join", {"chunked": True})
        self.canvas_id = j["canvas"]
        self.width, self.height = j["width"], j["height"]
        self.colours = len(j["palette"])
        self.cooldown_ms = j["cooldown_ms"]
        self.board = bytearray(self.width * self.height)
        self.joined = True  # (a week_reset while the parts come makes it False again)
        await self._fetch(c, j["parts"])
        self.next_place_at = trio.current_time() + j["next_place_ms"] / 1000
        self.plan = [p for p in self.plan if p[0] < self.width and p[1] < self.height and p[2] < self.colours]
        self.log(f"joined {self.canvas_id} ({j['mode']}, {self.width}x{self.height}, {self.colours} colours, "
                 f"cooldown {self.cooldown_ms / 1000:g}s)")

    async def _fetch(self, c: ArenaClient, parts: int) -> None:
        """The canvas, part by part (`canvas.bitmap`), with the events that
        arrive meanwhile handled in their order among the parts (a
        `canvas:pixels` event after a part is newer than it)."""
        w = self.width
        for part in range(parts):
            r = await self.call(c, "canvas.bitmap", {"part": part})
            self.board[r["y"] * w:(r["y"] + r["rows"]) * w] = zlib.decompress(r["bitmap"])
            for type_, body in c.drain_events():
                self._on_event(type_, body if isinstance(body, dict) else {})

    # -- drawing ---------------------------------------------------------------------
    def _next_pixel(self) -> tuple[int, int, int] | None:
        """The next pixel of the shape that the canvas does not show yet; a new
        shape when this one is done."""
        for _ in range(4):
            while self.plan:
                x, y, colour = self.plan[0]
                if self.board[y * self.width + x] != colour:
                    return self.plan[0]
                self.plan.pop(0)
            if self.shape:
                self.shapes += 1
                self.fleet.shapes += 1
                self.log(f"finished a {self.shape}")
            self.shape, self.plan = shape_plan(self.rng, self.width, self.height, self.colours)
        return None

    def _show(self) -> None:
        now = trio.current_time()
        if self.name != "painter1" or not self.fleet.show_every or now < self.next_show or not self.board:
            return
        self.next_show = now + self.fleet.show_every
        self.log(f"{self.canvas_id}, {self.fleet.placed} pixel(s) placed by the painters so far:")
        border = "+" + "-" * min(64, self.width) + "+"
        for line in [border] + [f"|{row}|" for row in thumbnail(self.board, self.width, self.height)] + [border]:
            self._log(line)

    async def _draw(self, c: ArenaClient) -> None:
        while not self.finished():
            if not self.joined:
                await self._join(c)
                continue
            self._show()
            wait = self.next_place_at - trio.current_time()
            if self.fleet.show_every and self.name == "painter1":
                wait = min(wait, self.next_show - trio.current_time())
            if wait > 0:
                try:
                    type_, body = await c.next_event(timeout=wait)
                except ArenaTimeout:
                    continue
                finally:
                    self.last_seq = c.last_seq
                self._on_event(type_, body if isinstance(body, dict) else {})
                continue
            for type_, body in c.drain_events():
                self._on_event(type_, body if isinstance(body, dict) else {})
            if not self.joined:
                continue
            pixel = self._next_pixel()
            if pixel is None:  # every shape tried is already on the canvas
                self.next_place_at = trio.current_time() + 1.0
                continue
            await self._place(c, *pixel)

    async def _place(self, c: ArenaClient, x: int, y: int, colour: int) -> None:
        try:
            r = await self.call(c, "canvas.place", {"x": x, "y": y, "color": colour})
        except ArenaRequestError as exc:
            if exc.code == "cooldown_active":
                self.next_place_at = trio.current_time() + (exc.retry_after_ms or 1000) / 1000
            elif exc.code == "wrong_state":  # a reset we have not heard of yet
                self.joined = False
            elif exc.code == "bad_request":  # the canvas changed under the plan
                self.plan = []
            else:
                raise
            return
        self.board[y * self.width + x] = colour
        if self.plan and self.plan[0] == (x, y, colour):
            self.plan.pop(0)
        self.placed += 1
        self.fleet.placed += 1
        self.next_place_at = trio.current_time() + r["next_place_ms"] / 1000

    def _on_event(self, type_: str, body: dict) -> None:
        if type_ == "canvas:pixels" and body.get("canvas") == self.canvas_id and self.board:
            w, h, board = self.width, self.height, self.board
            for x, y, colour in pixels_of(body.get("pixels") or b""):
                if x < w and y < h:
                    board[y * w + x] = colour
        elif type_ == "week_reset":
            self.log(f"week reset; next mode {body.get('next_mode')}")
            self.joined = False
            self.plan, self.shape = [], ""
        elif type_ == "match.snapshot" and body.get("match") == "canvas":
            self.joined = False  # the server could not replay what we missed: fetch the canvas again


async def run_canvas_bots(url: str, count: int = 2, pixels: int = 0, seed: int | None = None,
                          log: Callable[[str], None] | None = None, *,
                          api_keys: tuple[str, ...] = (), show_every: float = 0.0) -> int:
    """Run `count` painters until each has placed `pixels` pixels (0 = forever).
    The first bots log in with `api_keys` (agents), the rest with fresh wallets.
    Returns the exit status: 0 when every bot ended normally."""
    log = log or default_log
    if seed is None:
        seed = secrets.randbelow(2**31)
    fleet = CanvasFleet(show_every)
    bots = [CanvasBot(i + 1, fleet, url, pixels, seed, log, api_key=api_keys[i] if i < len(api_keys) else None)
            for i in range(count)]
    log(f"arena bot: {count} painter(s) on {url}, {pixels or 'unlimited'} pixel(s) each, seed {seed}")
    results: list[bool] = []
    try:
        await run_fleet(bots, results)
    finally:
        log(f"arena bot: {fleet.placed} pixel(s) placed, {fleet.shapes} shape(s) finished, "
            f"{fleet.failed} painter(s) failed")
    return 0 if fleet.failed == 0 and len(results) == count else 1
