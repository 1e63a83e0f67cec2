"""The web pages' HTTP route on the protocol's port (arena/net/pages.py and
the `http_handler` hook of arena/net/ws.py), over real sockets: what is
served and with which headers, and what malformed, oversized, hostile and
out-of-order requests get, with the WebSocket protocol unharmed beside them.
The pages' behaviour in a browser is tests/test_web_browser.py.
"""

from __future__ import annotations

import json
import socket
import sys
import types

import attrs
import pytest
import trio

from arena.client import open_client
from arena.engine.mode import Mode, Page
from arena.engine.registry import registry
from arena.net.pages import MAX_FILE_BYTES, SHELL, Site
from arena.net.ws import HttpAnswer


async def raw_http(port: int, request: bytes, *, read_all: bool = True) -> bytes:
    """Send `request` bytes as they are; everything the server answers, until it closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        out = b""
        with trio.fail_after(10):
            while True:
                try:
                    chunk = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    break
                if not chunk:
                    break
                out += chunk
                if not read_all:
                    break
        return out


def parse(answer: bytes) -> tuple[int, dict, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, body


async def get(port: int, path: str, method: str = "GET", extra: str = "") -> tuple[int, dict, bytes]:
    req = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode("latin-1")
    return parse(await raw_http(port, req))


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


async def test_the_start_page_the_listing_the_sdk_and_every_mode_page_are_served(arena_server):
    server, url = await arena_server()
    port = _port(url)
    status, headers, body = await get(port, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert int(headers["content-length"]) == len(body) and b"/static/start.js" in body
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["connection"] == "close"

    status, headers, body = await get(port, "/pages.json")
    listing = json.loads(body)["pages"]
    pages = {p["name"]: p for p in listing}
    # every registered mode that declares a page, from the registry
    declared = {name for name, mode in registry.modes().items() if mode.page is not None}
    assert set(pages) == declared and {"canvas", "roast", "lottery", "contest", "meme"} <= declared
    for name, p in pages.items():
        assert p["path"] == f"/{name}/" and p["title"] == registry.get(name).page.title
        status, headers, body = await get(port, p["path"])
        assert status == 200 and b"<!doctype html>" in body.lower()[:40], name

    status, headers, sdk = await get(port, "/static/arena-client.js")
    assert status == 200 and headers["content-type"] == "text/javascript; charset=utf-8"
    assert b"ArenaClient" in sdk and b"session.resume" in sdk
    status, _, css = await get(port, "/static/style.css")
    assert status == 200

    # HEAD: the GET's headers, no body
    status, headers, body = await get(port, "/static/arena-client.js", method="HEAD")
    assert status == 200 and int(headers["content-length"]) == len(sdk) and body == b""
    # the protocol on the same port, unharmed
    async with open_client(url) as c:
        assert (await c.hello())["protocol"] == 1
    assert server.site.served >= 6


async def test_malformed_hostile_and_unknown_requests_get_plain_errors_and_read_nothing_from_disk(arena_server):
    server, url = await arena_server()
    port = _port(url)
    for path in ["/nope", "/static/", "/static/../config.toml", "/static/%2e%2e/%2e%2e/pyproject.toml",
                 "/../../etc/passwd", "//etc/passwd", "/static/page.js/", "/canvas/../../server.py",
                 "/canvas/%00", "/static/page.js%00.png", "http://evil.example/", "*"]:
        status, headers, body = await get(port, path)
        assert status == 404, path
        assert headers["content-type"].startswith("text/plain") and b"start page" in body
    # a query string or fragment does not change which file is served
    status, _, body = await get(port, "/pages.json?x=../../etc/passwd")
    assert status == 200 and json.loads(body)["pages"]
    # the mode's page without its slash is sent to it, so its relative links work
    status, headers, body = await get(port, "/canvas")
    assert status == 301 and headers["location"] == "/canvas/" and body == b""
    # only GET and HEAD
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "TRACE", "BREW"]:
        status, headers, _ = await get(port, "/", method=method, extra="Content-Length: 0\r\n")
        assert status == 405 and headers["allow"] == "GET, HEAD", method
    # a body sent with a GET is read and dropped, the answer still arrives whole
    status, _, body = await get(port, "/pages.json", extra="Content-Length: 5\r\n\r\nhello")
    assert status == 200
    # a head over the handshake limit: 431, as for the protocol
    status, _, _ = parse(await raw_http(port, b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 431
    # not HTTP at all
    status, _, _ = parse(await raw_http(port, b"\x16\x03\x01\x02\x00garbage\r\n\r\n"))
    assert status == 400
    status, _, _ = parse(await raw_http(port, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"))
    assert status == 400
    # a WebSocket upgrade off /v1 is still refused: pages are never upgraded
    status, _, _ = parse(await raw_http(port, (
        b"GET /canvas/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")))
    assert status == 404
    # and /v1 without an upgrade is a bad upgrade, not a page
    status, _, _ = await get(port, "/v1")
    assert status == 400
    # out of order: a client that sends half a head and stalls holds only its own socket
    stalled = await trio.open_tcp_stream("127.0.0.1", port)
    await stalled.send_all(b"GET /pages.json HTTP/1.1\r\nHo")
    status, _, _ = await get(port, "/")
    assert status == 200
    await stalled.send_all(b"st: x\r\n\r\n")
    with trio.fail_after(5):
        data = b""
        while chunk := await stalled.receive_some(65536):
            data += chunk
    assert parse(data)[0] == 200
    await stalled.aclose()
    # a client that closes before reading harms nothing
    for _ in range(20):
        s = await trio.open_tcp_stream("127.0.0.1", port)
        await s.send_all(b"GET /static/arena-client.js HTTP/1.1\r\nHost: x\r\n\r\n")
        await s.aclose()
    async with open_client(url) as c:
        await c.hello()
        assert await c.ping() >= 0
    assert server.site.refused >= 10


async def test_pages_off_leaves_only_the_protocol(arena_server):
    server, url = await arena_server(server={"pages": False})
    assert server.site is None
    status, _, body = await get(_port(url), "/")
    assert status == 404 and b"/v1" in body


class _PagedMode(Mode):
    name = "pagedtest"
    page = Page("A test page", directory="site")


def _mode_at(tmp_path, files: dict[str, bytes], monkeypatch) -> Mode:
    """A mode whose package is `tmp_path/pkg`, its page in `site/` holding `files`."""
    pkg = tmp_path / "pkg"
    for rel, data in files.items():
        path = pkg / "site" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    module = types.ModuleType("pagedtest_module")
    module.__file__ = str(pkg / "mode.py")
    monkeypatch.setitem(sys.modules, "pagedtest_module", module)
    return type("PagedMode", (_PagedMode,), {"__module__": "pagedtest_module"})()


def test_a_mode_page_serves_its_files_and_nothing_else(tmp_path, monkeypatch):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    mode = _mode_at(tmp_path, {"index.html": b"<!doctype html>", "app.js": b"1", "img/a.png": b"\x89PNG",
                               ".env": b"TOKEN=1", "_draft.html": b"x", "notes.md": b"x", "py/mod.py": b"x"},
                    monkeypatch)
    (tmp_path / "pkg" / "site" / "leak.txt").symlink_to(outside)
    site = Site.build({"pagedtest": mode})
    served = set(site.assets)
    assert {"/pagedtest/", "/pagedtest/index.html", "/pagedtest/app.js", "/pagedtest/img/a.png"} <= served
    for hidden in [".env", "_draft.html", "notes.md", "py/mod.py", "leak.txt"]:
        assert f"/pagedtest/{hidden}" not in served, hidden
    answer = site.answer("GET", "/pagedtest/img/a.png")
    assert isinstance(answer, HttpAnswer) and answer.status == 200 and answer.body == b"\x89PNG"
    assert dict(answer.headers)["Content-Type"] == "image/png"
    assert json.loads(site.answer("GET", "/pages.json").body)["pages"] == [
        {"name": "pagedtest", "title": "A test page", "path": "/pagedtest/", "description": ""}]


def test_a_page_without_its_index_or_with_a_huge_file_stops_start_up(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no index.html"):
        Site.build({"pagedtest": _mode_at(tmp_path / "a", {"app.js": b"1"}, monkeypatch)})
    big = _mode_at(tmp_path / "b", {"index.html": b"x", "big.js": b"x" * (MAX_FILE_BYTES + 1)}, monkeypatch)
    with pytest.raises(ValueError, match="limit"):
        Site.build({"pagedtest": big})
    with pytest.raises(FileNotFoundError, match="start page"):
        Site.build({}, shell=tmp_path / "no-shell")


def test_a_page_declaration_is_checked():
    with pytest.raises(ValueError):
        Page("")
    with pytest.raises(ValueError):
        Page("Title", directory=" ")
    assert attrs.evolve(Page("T"), description="d").directory == "web"
    assert (SHELL / "index.html").is_file() and (SHELL / "static" / "arena-client.js").is_file()


async def test_an_answer_larger_than_the_socket_buffers_reaches_a_slow_reader_whole(arena_server):
    server, url = await arena_server()
    body = bytes(range(256)) * (8 << 10)  # 2 MiB: many times what the kernel buffers hold here
    server.gateway.server.http_handler = lambda method, target: HttpAnswer(200, "OK", (), body)
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await sock.connect(("127.0.0.1", _port(url)))
    stream = trio.SocketStream(sock)
    async with stream:
        await stream.send_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        await trio.sleep(0.3)  # not reading: the server's sends would block, and must wait instead
        # the protocol is served meanwhile
        async with open_client(url) as c:
            assert (await c.hello())["protocol"] == 1
        data = b""
        with trio.fail_after(20):
            while chunk := await stream.receive_some(65536):
                data += chunk
    status, headers, got = parse(data)
    assert status == 200 and int(headers["content-length"]) == len(body) and got == body


async def test_a_failing_page_handler_costs_one_request_never_the_server(arena_server):
    server, url = await arena_server()

    def broken(method, target):
        raise RuntimeError("a bug in a page handler")

    server.gateway.server.http_handler = broken
    status, _, body = await get(_port(url), "/")
    assert status == 500 and body == b"internal error\n"
    async with open_client(url) as c:
        assert (await c.hello())["protocol"] == 1


async def test_page_requests_are_counted_in_the_metrics(arena_server):
    from arena.net.metrics import parse as parse_metrics
    from arena.net.metrics import render

    server, url = await arena_server()
    await get(_port(url), "/")
    await get(_port(url), "/missing")
    counted = parse_metrics(render(server))
    assert counted["arena_http_pages_served_total"] == 1 and counted["arena_http_pages_refused_total"] == 1


class _Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_a_page_link_journals_the_modes_input_and_redirects_within_a_bounded_rate(tmp_path, monkeypatch):
    """`Page.link`: `/go/<rest>` asks the mode; its input is submitted (at
    most the site's bucket: a burst, then the steady rate) and the browser
    is sent on; malformed, unknown, oversized and non-GET requests journal
    nothing."""
    from arena.net import pages

    mode = _mode_at(tmp_path, {"index.html": b"<!doctype html>"}, monkeypatch)
    type(mode).page = Page("A test page", directory="site", link="go")
    type(mode).page_link = lambda self, state, rest: (
        (("clicked", rest, state["n"]), f"/pagedtest/?to={rest}") if rest.isalnum() else None)
    clock = _Clock()
    site = Site.build({"pagedtest": mode})
    site.clock = clock
    submitted = []
    site.attach(lambda: {"n": len(submitted)}, lambda inp: submitted.append(inp) or True)

    answer = site.answer("GET", "/go/abc?utm=x")
    assert answer.status == 303 and dict(answer.headers)["Location"] == "/pagedtest/?to=abc"
    assert submitted == [("clicked", "abc", 0)]
    assert site.answer("HEAD", "/go/abc").status == 303 and len(submitted) == 1  # HEAD journals nothing
    for hostile in ("/go/", "/go/a%2Fb", "/go/" + "a" * 200, "/go/%00", "/go/..%2F..%2Fetc"):
        assert site.answer("GET", hostile).status == 404, hostile
    assert site.answer("POST", "/go/abc").status == 405 and len(submitted) == 1
    # A flood: the burst goes through, the rest is redirected and not journaled.
    for _ in range(500):
        assert site.answer("GET", "/go/abc").status == 303
    assert len(submitted) == pages.LINK_BURST and site.link_limited == 500 - (pages.LINK_BURST - 1)
    clock.t += 1.0  # a second later: the steady rate again
    for _ in range(100):
        site.answer("GET", "/go/abc")
    assert len(submitted) == pages.LINK_BURST + pages.LINK_INPUTS_PER_S


def test_a_page_link_may_not_shadow_another_path(tmp_path, monkeypatch):
    mode = _mode_at(tmp_path, {"index.html": b"x"}, monkeypatch)
    type(mode).page = Page("A test page", directory="site", link="static")
    with pytest.raises(ValueError, match="another path"):
        Site.build({"pagedtest": mode})
