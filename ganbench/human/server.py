"""The study's web server: standard-library ``http.server``, one thread per request.

Routes (nothing else is served; any other path is 404, any other method 405):

- ``GET /``, ``GET /static/app.js``, ``GET /static/style.css``: the page, shipped in ``human/static``;
- ``GET /img/<item id>.png``: an item's image, for ids of the study only (never a path from the request);
- ``GET /api/state?rater=ID``: the rater's progress and next item (a new rater id is made, and kept in a
  cookie, when neither the URL nor a cookie names one, or when the query has ``new=1``);
- ``POST /api/judge``: ``{"rater", "item", "answer": "real"|"fake", "ms"}`` as JSON, at most 1 KiB; it is
  stored only when ``item`` is the rater's next one (409 otherwise), then the new state is returned.

Requests must name this server in their ``Host`` header when it listens on a loopback address (so a web
page elsewhere cannot reach it through DNS rebinding); cross-site posts fail the browser's preflight,
which is never answered.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from ganbench.human.judgments import JudgmentLog
from ganbench.human.order import next_item, rater_order
from ganbench.human.scoring import ANSWERS
from ganbench.runs.layout import StudyDir

MAX_POST_BYTES = 1024
MAX_MS = 24 * 3600 * 1000
RATER = re.compile(r"[A-Za-z0-9_-]{1,40}")
IMAGE = re.compile(r"/img/([0-9a-f]{12})\.png")
COOKIE = "ganbench_rater"
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/static/app.js": ("app.js", "text/javascript"),
          "/static/style.css": ("style.css", "text/css")}  # fmt: skip
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class StudyServer(ThreadingHTTPServer):
    """A server for one prepared study (``StudyDir`` with its ``study.json``)."""

    daemon_threads = True

    def __init__(self, study_dir: StudyDir, host: str = "127.0.0.1", port: int = 0) -> None:
        self.study_dir = study_dir
        self.study = study_dir.read_study()
        if self.study is None:
            raise ValueError(f"{study_dir} holds no study")
        self.items = {it["id"] for it in self.study["items"]}
        self.log = JudgmentLog(study_dir.judgments)
        root = resources.files("ganbench.human") / "static"
        self.static = {path: ((root / name).read_bytes(), ctype) for path, (name, ctype) in STATIC.items()}
        super().__init__((host, port), Handler)
        bound = self.server_address[1]
        self.allowed_hosts = ({f"{h}:{bound}" for h in ("127.0.0.1", "localhost", "[::1]")}
                              if host in LOOPBACK else None)  # fmt: skip

    def handle_error(self, request, client_address) -> None:
        """A browser that closes a kept-alive connection is not an error; anything else is printed."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionResetError, BrokenPipeError, TimeoutError)):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    def state(self, rater: str, done: list[str] | None = None) -> dict:
        order = rater_order(self.study, rater)
        done = self.log.answered(rater) if done is None else done
        nxt = next_item(order, done)
        return {"rater": rater, "done": len(done), "total": len(order), "item": nxt,
                "image": f"/img/{nxt}.png" if nxt else None, "display_px": self.study["rules"]["display_px"]}


class Handler(BaseHTTPRequestHandler):
    server: StudyServer
    timeout = 30  # a client that stalls mid-request frees its thread
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:
        pass  # requests are not logged; the judgments are

    def _send(self, code: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self'; frame-ancestors 'none'")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, obj: dict, extra: dict | None = None) -> None:
        self._send(code, json.dumps(obj).encode(), "application/json", extra)

    def _error(self, code: int, message: str) -> None:
        self.close_connection = True
        self._json(code, {"error": message})

    def _host_ok(self) -> bool:
        allowed = self.server.allowed_hosts
        if allowed is not None and self.headers.get("Host") not in allowed:
            self._error(421, "unknown Host")
            return False
        return True

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        url = urlsplit(self.path)
        if url.path in self.server.static:
            body, ctype = self.server.static[url.path]
            return self._send(200, body, ctype)
        m = IMAGE.fullmatch(url.path)
        if m and m.group(1) in self.server.items:
            return self._send(200, self.server.study_dir.image(m.group(1)).read_bytes(), "image/png")
        if url.path == "/api/state":
            query = parse_qs(url.query)
            rater = (query.get("rater") or [None])[0] or (None if "new" in query else self._cookie_rater())
            if rater is None:
                rater = secrets.token_urlsafe(9)
            if not RATER.fullmatch(rater):
                return self._error(400, "a rater id is 1-40 letters, digits, - or _")
            cookie = f"{COOKIE}={rater}; Path=/; Max-Age=31536000; SameSite=Strict; HttpOnly"
            return self._json(200, self.server.state(rater), {"Set-Cookie": cookie})
        self._error(404, "not found")

    def _cookie_rater(self) -> str | None:
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and RATER.fullmatch(value):
                return value
        return None

    def do_POST(self) -> None:
        if not self._host_ok():
            return
        if urlsplit(self.path).path != "/api/judge":
            return self._error(404, "not found")
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return self._error(411, "Content-Length required")
        if int(length) > MAX_POST_BYTES:
            return self._error(413, f"a judgment is at most {MAX_POST_BYTES} bytes")
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return self._error(415, "send application/json")
        try:
            body = json.loads(self.rfile.read(int(length)).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._error(400, "not JSON")
        problem = judgment_problem(body, self.server.items)
        if problem:
            return self._error(404 if problem == "unknown item" else 400, problem)
        order = rater_order(self.server.study, body["rater"])
        stored, done = self.server.log.append_next(body["rater"], body["item"], body["answer"], body["ms"],
                                                   lambda d: next_item(order, d))  # fmt: skip
        state = self.server.state(body["rater"], done)
        self._json(200 if stored else 409, state if stored else {**state, "error": "not the rater's next item"})

    do_HEAD = do_GET  # the headers of a GET, without its body (see _send)

    def _not_allowed(self) -> None:
        self._error(405, "method not allowed")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed


def judgment_problem(body, items: set[str]) -> str | None:
    """Why a posted judgment is refused, or None when it is well formed."""
    if not isinstance(body, dict) or set(body) != {"rater", "item", "answer", "ms"}:
        return "expected an object with exactly rater, item, answer and ms"
    if not isinstance(body["rater"], str) or not RATER.fullmatch(body["rater"]):
        return "a rater id is 1-40 letters, digits, - or _"
    if not isinstance(body["item"], str) or body["item"] not in items:
        return "unknown item"
    if body["answer"] not in ANSWERS:
        return "answer must be real or fake"
    ms = body["ms"]
    if isinstance(ms, bool) or not isinstance(ms, int) or not 0 <= ms <= MAX_MS:
        return f"ms must be an integer from 0 to {MAX_MS}"
    return None
