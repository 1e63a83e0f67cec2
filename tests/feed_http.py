"""Real HTTP feed sources for tests: `http.server` on 127.0.0.1, port 0, in a thread.

`FeedSources()` serves any number of named sources; each is a function of
the request (path with query) returning (status, headers, body), and may
sleep to play a slow source. Requests are counted per source, so a test can
check that a source was not asked (rate limit, open circuit).
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def json_body(doc) -> tuple[int, dict, bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(doc).encode()


class FeedSources:
    def __init__(self) -> None:
        self.handlers: dict[str, object] = {}
        self.hits: dict[str, int] = {}
        self.paths: dict[str, list[str]] = {}
        self.headers: dict[str, list[dict]] = {}  # each request's headers (lower-case names), per source
        sources = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                name = self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
                handler = sources.handlers.get(name)
                sources.hits[name] = sources.hits.get(name, 0) + 1
                sources.paths.setdefault(name, []).append(self.path)
                sources.headers.setdefault(name, []).append({k.lower(): v for k, v in self.headers.items()})
                status, headers, body = handler(self.path) if handler else (404, {}, b"no such source")
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FeedSources:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, name: str, rest: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{name}{rest}"

    def add(self, name: str, handler) -> str:
        self.handlers[name] = handler
        return self.url(name)


def refused_url() -> str:
    """A URL on a port nothing listens on (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/down"
