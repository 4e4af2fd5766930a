"""A real HTTP/HTTPS scrape target for tests, demos and benchmarks.

Runs a threaded ``http.server`` on 127.0.0.1 in a daemon thread; it stops on ``stop()``, on
leaving its ``with`` block, or at interpreter exit. Example::

    with TargetServer() as srv:                       # TargetServer(tls_ca=trustme.CA()) for HTTPS
        srv.set("/metrics", b"up_total 1\\n")
        srv.set("/slow", Page(b"x 1\\n", delay=5))
        srv.url("/metrics")                            # -> "http://127.0.0.1:PORT/metrics"
        srv.requests[-1].headers["accept"]             # what the scraper sent

A page body may be bytes or a callable returning bytes (called per request). ``token`` (a
callable returning the expected bearer token, or ``None``) makes every page demand
``Authorization: Bearer <token>`` and answer 401 otherwise.
"""

from __future__ import annotations

import atexit
import gzip as _gzip
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

Body = bytes | Callable[[], bytes]


@dataclass
class Page:
    body: Body = b""
    content_type: str = TEXT_CONTENT_TYPE
    status: int = 200
    delay: float = 0.0  # seconds before the response starts
    trickle: float = 0.0  # seconds between chunks of the body
    chunk_size: int = 64
    redirect: str = ""  # Location header (status defaults to 302 when set)
    reset: bool = False  # drop the connection without answering
    gzip: bool | None = None  # None: compress when the client accepts gzip
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RequestRecord:
    path: str
    headers: dict[str, str]  # lower-cased names
    server: str  # "host:port" that received it
    raw_target: str = ""  # the request target as sent (absolute-form when used as a proxy)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: TargetServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients hanging up mid-response (timeouts, resets) are expected here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.server.owner._handle(self)


class TargetServer:
    def __init__(
        self,
        tls_ca: Any = None,  # trustme.CA: serve HTTPS with a certificate it issues
        hostnames: tuple[str, ...] = ("localhost", "127.0.0.1"),
        token: Callable[[], str] | None = None,
        client_ca: Any = None,  # trustme.CA: demand a client certificate it issued
        max_tls_version: ssl.TLSVersion | None = None,
    ) -> None:
        self.pages: dict[str, Page] = {}
        self.token = token
        self.requests: list[RequestRecord] = []
        self.inflight = 0  # requests being answered now
        self.max_inflight = 0  # most requests answered at once
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port: int = self._httpd.server_address[1]
        self.scheme = "http"
        if tls_ca is not None:
            cert = tls_ca.issue_cert(*hostnames)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(ctx)
            if client_ca is not None:
                client_ca.configure_trust(ctx)
                ctx.verify_mode = ssl.CERT_REQUIRED
            if max_tls_version is not None:
                ctx.maximum_version = max_tls_version
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> TargetServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"target-server-{self.port}",
                daemon=True,
            )
            self._thread.start()
            atexit.register(self.stop)
        return self

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> TargetServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- content ---------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/metrics", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def set(self, path: str, page: Page | Body) -> None:
        self.pages[path] = page if isinstance(page, Page) else Page(page)

    def requests_for(self, path: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    # -- serving ---------------------------------------------------------------------------
    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops; False when stopping."""
        return not self._stopping.wait(seconds)

    def _handle(self, h: _Handler) -> None:
        with self._lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            self._answer(h)
        finally:
            with self._lock:
                self.inflight -= 1

    def _answer(self, h: _Handler) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        path = h.path
        if path.startswith(("http://", "https://")):  # absolute-form: we are used as a proxy
            parts = urlsplit(path)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        with self._lock:
            self.requests.append(RequestRecord(path, headers, f"127.0.0.1:{self.port}", h.path))
        page = self.pages.get(path.split("?", 1)[0])
        if page is None:
            self._send(h, 404, b"not found\n", "text/plain")
            return
        if page.delay and not self._sleep(page.delay):
            return
        if page.reset:
            h.close_connection = True
            try:
                h.connection.shutdown(2)
            except OSError:
                pass
            return
        if self.token is not None:
            want = f"Bearer {self.token()}"
            if headers.get("authorization") != want:
                self._send(h, 401, b"unauthorized\n", "text/plain")
                return
        if page.redirect:
            h.send_response(page.status if page.status != 200 else 302)
            h.send_header("Location", page.redirect)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        body = page.body() if callable(page.body) else page.body
        extra = dict(page.headers)
        use_gzip = page.gzip
        if use_gzip is None:
            use_gzip = "gzip" in headers.get("accept-encoding", "")
        if use_gzip:
            body = _gzip.compress(body, compresslevel=1)
            extra["Content-Encoding"] = "gzip"
        self._send(h, page.status, body, page.content_type, extra, page.trickle, page.chunk_size)

    def _send(
        self,
        h: _Handler,
        status: int,
        body: bytes,
        content_type: str,
        extra: dict[str, str] | None = None,
        trickle: float = 0.0,
        chunk_size: int = 64,
    ) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                h.send_header(k, v)
            h.end_headers()
            if not trickle:
                h.wfile.write(body)
                return
            for i in range(0, len(body), chunk_size):
                h.wfile.write(body[i : i + chunk_size])
                h.wfile.flush()
                if not self._sleep(trickle):
                    return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            h.close_connection = True


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until true or ``timeout``; for tests waiting on the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
