"""A small, scriptable stand-in for the OpenAI HTTP API, on 127.0.0.1.

It speaks just enough of the API for Arena's judge:

* `POST /v1/chat/completions`: a request with `response_format` of type
  `json_schema` is a *score* request, any other chat request a *prompt*
  request;
* `POST /v1/audio/transcriptions` (multipart/form-data): a *transcribe*
  request;
* `POST /v1/moderations`: a *moderate* request.

It runs in its own threads (`http.server.ThreadingHTTPServer`), so it keeps
answering whatever the test's trio loop is doing, and a slow reply never
blocks another. Every request is recorded (`fake.requests`).

Scripting: each kind of request has a queue of `Reply`s (`fake.push(kind,
reply, ...)`) used first, in order, then a default (`fake.defaults[kind]`, a
function of the `Request` returning a `Reply`). The defaults behave like a
well-mannered model:

* prompts: a fresh, numbered prompt each time (never a repeat);
* scores: a strict-schema JSON object whose points grow with the length of
  the roast (so a longer roast wins), total and commentary included;
* transcriptions: the uploaded bytes decoded as UTF-8 (tests send "audio"
  that is really the spoken words);
* moderation: flagged when the input contains "FLAGME".

Helpers build misbehaving replies: `slow(seconds)`, `rate_limited(retry_after)`,
`server_error()`, `score_reply(...)` with any content, `malformed_body()`.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import attrs

KINDS = ("prompt", "score", "transcribe", "moderate")


@attrs.define
class Reply:
    status: int = 200
    body: object = None  # JSON-able, sent as application/json
    raw: bytes | None = None  # sent as is instead of `body`
    headers: dict = attrs.field(factory=dict)
    delay: float = 0.0  # seconds before answering
    then: Reply | None = None  # after the delay, answer with this (default: the normal answer)


@attrs.define
class Request:
    kind: str
    path: str
    headers: dict
    json: object = None  # the JSON body (chat, moderation)
    form: dict = attrs.field(factory=dict)  # multipart fields (transcription)
    files: dict = attrs.field(factory=dict)  # multipart files: name -> (filename, bytes, content type)
    at: float = 0.0

    # --- conveniences for the judge's requests -----------------------------
    @property
    def messages(self) -> list:
        return (self.json or {}).get("messages", []) if isinstance(self.json, dict) else []

    def user_payload(self) -> dict:
        """The judge's user message of a score request, parsed (it is JSON)."""
        for m in reversed(self.messages):
            if m.get("role") == "user":
                try:
                    return json.loads(m["content"])
                except (TypeError, ValueError):
                    return {}
        return {}


_counter = itertools.count(1)


def chat_reply(content: str | None, *, model: str = "fake-model", refusal: str | None = None,
               finish_reason: str = "stop") -> Reply:
    n = next(_counter)
    return Reply(body={
        "id": f"chatcmpl-fake-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "finish_reason": finish_reason,
            "logprobs": None,
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    })


def score_reply(savagery=7, creativity=6, delivery=5, relevance=4, total=None,
                commentary="Solid burn from the fake judge.", **extra) -> Reply:
    """A score reply; pass `total=` to make it (in)consistent, `extra` to add fields."""
    obj = {"savagery": savagery, "creativity": creativity, "delivery": delivery,
           "relevance": relevance}
    obj["total"] = sum(v for v in obj.values() if isinstance(v, int)) if total is None else total
    obj["commentary"] = commentary
    obj.update(extra)
    return chat_reply(json.dumps(obj))


def error_reply(status: int, message: str = "fake error", headers: dict | None = None) -> Reply:
    return Reply(status=status, headers=headers or {},
                 body={"error": {"message": message, "type": "fake_error", "param": None, "code": None}})


def rate_limited(retry_after: float | None = None, *, ms: bool = False) -> Reply:
    headers = {}
    if retry_after is not None:
        headers = {"retry-after-ms": str(int(retry_after * 1000))} if ms else {"retry-after": str(retry_after)}
    return error_reply(429, "Rate limit reached (fake)", headers)


def server_error(status: int = 500) -> Reply:
    return error_reply(status, "The server had an error (fake)")


def slow(seconds: float, then: Reply | None = None) -> Reply:
    return Reply(delay=seconds, then=then)


def malformed_body() -> Reply:
    return Reply(raw=b'{"id": "chatcmpl-broken", "choices": [', headers={"content-type": "application/json"})


def transcript_reply(text: str) -> Reply:
    return Reply(body={"text": text})


def moderation_reply(flagged: bool, categories: tuple[str, ...] = ("harassment",)) -> Reply:
    names = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
             "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions",
             "sexual", "sexual/minors", "violence", "violence/graphic")
    cats = {n: bool(flagged and n in categories) for n in names}
    return Reply(body={
        "id": f"modr-fake-{next(_counter)}",
        "model": "omni-moderation-latest",
        "results": [{
            "flagged": flagged,
            "categories": cats,
            "category_scores": {n: (0.9 if cats[n] else 0.01) for n in names},
            "category_applied_input_types": {n: ["text"] for n in names},
        }],
    })


# --- default behaviour ----------------------------------------------------------


def default_prompt(req: Request) -> Reply:
    n = next(_counter)
    return chat_reply(f"Roast your opponent's attempt number {n} at small talk.")


def points_for(roast: str) -> int:
    """The default judge's points per dimension: longer roasts score higher."""
    return max(1, min(10, len(roast.split())))


def default_score(req: Request) -> Reply:
    payload = req.user_payload()
    roast = " ".join(str(payload.get(k) or "") for k in ("roast_text", "transcript")).strip()
    p = points_for(roast)
    return score_reply(p, p, p, p, commentary=f"Fake judge: {len(roast.split())} words of heat.")


def default_transcribe(req: Request) -> Reply:
    data = req.files.get("file", ("", b"", ""))[1]
    return transcript_reply(data.decode("utf-8", "replace"))


def default_moderate(req: Request) -> Reply:
    body = req.json if isinstance(req.json, dict) else {}
    text = json.dumps(body.get("input", ""))
    return moderation_reply("FLAGME" in text)


# --- the server --------------------------------------------------------------------


class FakeOpenAI:
    """`with FakeOpenAI() as fake:` ... `fake.base_url` is `http://127.0.0.1:PORT/v1`."""

    def __init__(self) -> None:
        self.queues: dict[str, deque] = {k: deque() for k in KINDS}
        self.defaults: dict[str, Callable[[Request], Reply]] = {
            "prompt": default_prompt,
            "score": default_score,
            "transcribe": default_transcribe,
            "moderate": default_moderate,
        }
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting ---------------------------------------------------------------
    def push(self, kind: str, *replies: Reply) -> None:
        assert kind in KINDS, kind
        with self._lock:
            self.queues[kind].extend(replies)

    def always(self, kind: str, reply: Reply | Callable[[Request], Reply]) -> None:
        """Answer every request of `kind` like this from now on."""
        assert kind in KINDS, kind
        self.defaults[kind] = reply if callable(reply) else (lambda req, r=reply: r)

    def of_kind(self, kind: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.kind == kind]

    def count(self, kind: str) -> int:
        return len(self.of_kind(kind))

    # --- lifecycle -----------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes slow replies
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- answering -----------------------------------------------------------------
    def _next_reply(self, req: Request) -> Reply:
        with self._lock:
            self.requests.append(req)
            queue = self.queues[req.kind]
            scripted = queue.popleft() if queue else None
        return scripted if scripted is not None else self.defaults[req.kind](req)


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output clean
        pass

    def do_POST(self):  # noqa: N802 - http.server's naming
        fake = self.server_fake
        length = int(self.headers.get("content-length") or 0)
        data = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(kind="", path=path, headers=headers, at=time.monotonic())
        if path.endswith("/chat/completions"):
            req.json = _json_or_none(data)
            rf = req.json.get("response_format") if isinstance(req.json, dict) else None
            req.kind = "score" if isinstance(rf, dict) and rf.get("type") == "json_schema" else "prompt"
        elif path.endswith("/audio/transcriptions"):
            req.kind = "transcribe"
            req.form, req.files = _multipart(headers.get("content-type", ""), data)
        elif path.endswith("/moderations"):
            req.kind = "moderate"
            req.json = _json_or_none(data)
        else:
            self._send(error_reply(404, f"no route {path}"))
            return
        reply = fake._next_reply(req)
        while reply.delay:
            if fake._stop.wait(reply.delay):
                return
            reply = reply.then if reply.then is not None else fake.defaults[req.kind](req)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            headers = {"content-type": "application/json", **reply.headers}
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            pass  # the client gave up (a timeout test): nothing to do


def _json_or_none(data: bytes):
    try:
        return json.loads(data)
    except ValueError:
        return None


def _multipart(content_type: str, data: bytes) -> tuple[dict, dict]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + data
    )
    form, files = {}, {}
    if not msg.is_multipart():
        return form, files
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_param("filename", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if filename is not None:
            files[name] = (filename, payload, part.get_content_type())
        else:
            form[name] = payload.decode("utf-8", "replace")
    return form, files


def closed_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
