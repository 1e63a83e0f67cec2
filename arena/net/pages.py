"""Web pages served on the protocol's own port, beside `/v1`.

A browser opening `http://HOST:PORT/` gets the start page; every registered
mode that declares a `Page` (arena/engine/mode.py) has its page at
`/<mode>/`, and the shared files (the bundled JavaScript SDK, the pages'
common script and style) are at `/static/`. `/pages.json` lists the pages
the start page links to, read from the registry, so a mode's page appears
with the mode and with nothing else to configure.

Why everything is read once, at start-up, into a table of exact paths: a
request can only name a file that is in the table, so no path a client
sends (`..`, encoded separators, symlinks, absolute paths) ever reaches the
file system, and answering costs a dictionary look-up inside the handshake
task, never a disk read. The files are small (the whole site is well under
a megabyte); changing them needs a restart. Only GET and HEAD are served.

A page may also declare a short link path (`Page.link`, e.g. "r"): a GET of
`/<link>/<rest>` asks the mode (`Mode.page_link(state, rest)`, read
between ticks) for an input to journal and where to send the browser (a
303 redirect). Links are anyone's to follow, so the inputs they submit are
bounded by one token bucket for the whole site (`LINK_INPUTS_PER_S`,
`LINK_BURST`): past it the browser is still redirected, and nothing is
journaled. A HEAD is redirected too, and never journals.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from urllib.parse import unquote

from attrs import frozen

from arena.net.ws import HttpAnswer

log = logging.getLogger("arena.net.pages")

# The start page and the files every page shares (arena/web/).
SHELL = Path(__file__).resolve().parent.parent / "web"
STATIC_PREFIX = "/static/"
LISTING_PATH = "/pages.json"
# A file larger than this is not a page's asset: refuse to start with it.
MAX_FILE_BYTES = 4 << 20
# Inputs followed links may submit, for the whole site: a steady rate and a burst.
LINK_INPUTS_PER_S = 20.0
LINK_BURST = 40.0
MAX_LINK_REST = 128  # longest `<rest>` of a link a mode is asked about

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".txt": "text/plain; charset=utf-8",
}

# Pages load scripts, styles and data from this server only; images and
# videos may also come from the media store's public URL (another host).
SECURITY_HEADERS = (
    ("Content-Security-Policy",
     "default-src 'self'; img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; "
     "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
)


@frozen
class PageEntry:
    """One page of the start page's list."""

    name: str
    title: str
    path: str
    description: str = ""


@frozen
class Asset:
    content_type: str
    body: bytes


class Site:
    """The table of served paths and the answer to one request."""

    def __init__(self, assets: dict[str, Asset], pages: list[PageEntry], links: dict | None = None,
                 clock=time.monotonic):
        self.assets = dict(assets)
        self.pages = list(pages)
        self.links = dict(links or {})  # "/<link>/" -> the mode answering it
        # Set by the server (`attach`): the state links are read from, and
        # where their inputs go.
        self.state_of = None
        self.submit = None
        self.clock = clock
        self._tokens = LINK_BURST
        self._filled_at = clock()
        self.link_inputs = 0  # inputs submitted by followed links
        self.link_limited = 0  # followed links whose input was dropped (the bucket was empty)
        listing = [{"name": p.name, "title": p.title, "path": p.path, "description": p.description}
                   for p in self.pages]
        self.assets[LISTING_PATH] = Asset(CONTENT_TYPES[".json"],
                                          json.dumps({"pages": listing}).encode("utf-8"))
        self.served = 0  # requests answered with a file
        self.refused = 0  # requests answered 404 or 405

    def attach(self, state_of, submit) -> None:
        """Where followed links read the state (`state_of()`) and send their inputs."""
        self.state_of = state_of
        self.submit = submit

    @classmethod
    def build(cls, modes: dict, shell: Path = SHELL) -> Site:
        """The shell's files and each mode's declared page directory."""
        assets: dict[str, Asset] = {}
        index = shell / "index.html"
        if not index.is_file():
            raise FileNotFoundError(f"the start page {index} is missing")
        assets["/"] = _asset(index)
        for rel, path in _files(shell / "static"):
            assets[STATIC_PREFIX + rel] = _asset(path)
        pages = []
        links = {}
        for name, mode in sorted(modes.items()):
            page = getattr(mode, "page", None)
            if page is None:
                continue
            if page.link:
                prefix = f"/{page.link}/"
                if prefix in links or page.link in modes or page.link == STATIC_PREFIX.strip("/"):
                    raise ValueError(f"mode {name}: its page link /{page.link}/ is another path already")
                links[prefix] = mode
            root = _package_dir(mode) / page.directory
            if not (root / "index.html").is_file():
                raise FileNotFoundError(f"mode {name}: its page directory {root} has no index.html")
            prefix = f"/{name}/"
            for rel, path in _files(root):
                assets[prefix + rel] = _asset(path)
            assets[prefix] = assets[prefix + "index.html"]
            pages.append(PageEntry(name, page.title, prefix, page.description))
        return cls(assets, pages, links)

    def _take_token(self) -> bool:
        now = self.clock()
        self._tokens = min(LINK_BURST, self._tokens + max(0.0, now - self._filled_at) * LINK_INPUTS_PER_S)
        self._filled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _link(self, method: str, path: str) -> HttpAnswer | None:
        """A followed link's answer, or None when `path` is no link."""
        prefix = path[:path.find("/", 1) + 1] if path.count("/") >= 2 else ""
        mode = self.links.get(prefix)
        if mode is None:
            return None
        rest = unquote(path[len(prefix):])
        answer = None
        if 0 < len(rest) <= MAX_LINK_REST and self.state_of is not None:
            answer = mode.page_link(self.state_of(), rest)
        if answer is None:
            self.refused += 1
            return HttpAnswer(404, "Not Found", (("Content-Type", CONTENT_TYPES[".txt"]),), b"no such link\n")
        inp, location = answer
        if inp is not None and method == "GET" and self.submit is not None:
            if self._take_token() and self.submit(inp) is not False:
                self.link_inputs += 1
            else:
                self.link_limited += 1
        self.served += 1
        return HttpAnswer(303, "See Other", (("Location", location), ("Cache-Control", "no-store"),
                                             ("Referrer-Policy", "no-referrer")), b"")

    def answer(self, method: str, target: str) -> HttpAnswer:
        path = target.split("?", 1)[0].split("#", 1)[0]
        if method not in ("GET", "HEAD"):
            self.refused += 1
            return HttpAnswer(405, "Method Not Allowed", (("Content-Type", CONTENT_TYPES[".txt"]),
                                                          ("Allow", "GET, HEAD")), b"GET or HEAD only\n")
        asset = self.assets.get(path)
        if asset is None and self.links:
            linked = self._link(method, path)
            if linked is not None:
                return linked
        if asset is None and not path.endswith("/") and path + "/" in self.assets:
            # `/name` -> `/name/`, so the page's relative links resolve inside it.
            return HttpAnswer(301, "Moved Permanently", (("Location", path + "/"),), b"")
        if asset is None:
            self.refused += 1
            body = b"no such page; the start page is at /\n"
            return HttpAnswer(404, "Not Found", (("Content-Type", CONTENT_TYPES[".txt"]),), body)
        self.served += 1
        headers = (("Content-Type", asset.content_type), *SECURITY_HEADERS)
        if method == "HEAD":
            return _HeadAnswer(200, "OK", headers, asset.body)
        return HttpAnswer(200, "OK", headers, asset.body)


class _HeadAnswer(HttpAnswer):
    """A HEAD answer: the GET's headers, Content-Length included, no body."""

    __slots__ = ()

    def encode(self) -> bytes:
        head = HttpAnswer(self.status, self.reason, self.headers, self.body).encode()
        return head[: len(head) - len(self.body)]


def _package_dir(mode) -> Path:
    module = sys.modules[type(mode).__module__]
    return Path(module.__file__).resolve().parent


def _files(root: Path):
    """(relative URL path, file) of every served file under `root`: regular
    files only, no hidden names, no links out of `root`."""
    if not root.is_dir():
        return
    base = root.resolve()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith((".", "_")) for part in rel.parts) or not path.is_file():
            continue
        if path.suffix not in CONTENT_TYPES:
            continue
        real = path.resolve()
        if base not in real.parents:
            log.warning("not serving a file that links out of its page", extra={"path": str(path)})
            continue
        yield rel.as_posix(), path


def _asset(path: Path) -> Asset:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is {size} bytes, over the {MAX_FILE_BYTES}-byte limit of a page's file")
    return Asset(CONTENT_TYPES.get(path.suffix, "application/octet-stream"), path.read_bytes())
