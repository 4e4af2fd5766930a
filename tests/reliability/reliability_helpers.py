"""Helpers of the reliability suite (imported by its conftest and tests).

- ``AgentProcess``: ``python -m agent run`` as users start it, with RSS/CPU read from ``/proc``;
- ``TCPProxy``: a TCP forwarder whose ``down()`` closes the listener *and* resets every open
  connection (a real outage: keep-alive connections die too), ``up()`` listens again, same port;
- ``CountingPage``: a page whose counter is the number of times it was served, so a receiver
  can tell exactly which scrapes arrived, which are missing and which came twice;
- ``StreamServer``: a target that streams millions of series without building the body.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# The agent process, free_port and wait_until are shared with the end-to-end tests.
from agent.devtools.agent_process import AgentProcess, free_port, wait_until

__all__ = ["AgentProcess", "free_port", "wait_until"]

# --------------------------------------------------------------------------------- fault proxy


class TCPProxy:
    """127.0.0.1:<port> -> 127.0.0.1:<upstream>. ``down()`` = connection refused and every
    established connection reset; ``up()`` = back on the same port."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.port = free_port()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.up()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        if self._listener is not None:
            return
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(100):
            try:
                ls.bind(("127.0.0.1", self.port))
                break
            except OSError:
                time.sleep(0.05)
        ls.listen(64)
        self._listener = ls
        self._thread = threading.Thread(target=self._accept, args=(ls,), daemon=True)
        self._thread.start()

    def down(self) -> None:
        ls, self._listener = self._listener, None
        if ls is not None:
            with contextlib.suppress(OSError):
                ls.shutdown(socket.SHUT_RDWR)
            ls.close()
        with self._lock:
            conns = list(self._conns)
            self._conns.clear()
        for c in conns:
            with contextlib.suppress(OSError):
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                c.close()
        if self._thread is not None:
            self._thread.join(5)

    stop = down

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not ls:
                    client.close()
                    server.close()
                    return
                self._conns.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)
            src.close()


# --------------------------------------------------------------------------------- pages


class CountingPage:
    """A page body (callable for ``TargetServer.set``): ``rel_scrapes_total`` is the number of
    times it was served; the serving times are kept (monotonic) for schedule checks."""

    def __init__(self, extra_series: int = 0) -> None:
        self.n = 0
        self.times: list[float] = []
        self._lock = threading.Lock()
        self.extra = "".join(
            f'rel_payload{{i="{i:05d}",pad="{"x" * 24}"}} {i}\n' for i in range(extra_series)
        ).encode()

    def __call__(self) -> bytes:
        with self._lock:
            self.n += 1
            self.times.append(time.monotonic())
            n = self.n
        return b"# TYPE rel_scrapes counter\nrel_scrapes_total %d\n" % n + self.extra


def intervals(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def scrape_counts(rx: Any, metric: str = "rel_scrapes_total") -> dict[str, list[int]]:
    """instance -> values of ``metric`` in the order the receiver got them."""
    out: dict[str, list[int]] = {}
    for p in rx.points():
        if p.metric == metric:
            out.setdefault(p.resource["service.instance.id"], []).append(int(p.point.as_double))
    return out


def loss_report(received: list[int], served: int) -> tuple[int, int, bool]:
    """(lost, duplicated, in_order) of counter values 1..served seen as ``received``."""
    distinct = set(received)
    lost = len(set(range(1, served + 1)) - distinct)
    dup = len(received) - len(distinct)
    in_order = all(a < b for a, b in zip(received, received[1:], strict=False))
    return lost, dup, in_order


# --------------------------------------------------------------------------------- streaming


class StreamServer:
    """Serves ``/metrics`` = ``series`` distinct gauge lines, generated while sending (never
    the whole body in memory), close-delimited. ``sent_bytes`` counts what the client took."""

    def __init__(self, series: int, content_length: bool = False) -> None:
        self.series = series
        self.content_length = content_length
        self.sent_bytes = 0
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_GET(self) -> None:  # noqa: N802
                owner.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                if owner.content_length:
                    self.send_header("Content-Length", str(owner.body_size()))
                self.end_headers()
                try:
                    for block in owner.blocks():
                        self.wfile.write(block)
                        owner.sent_bytes += len(block)
                except OSError:
                    return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def blocks(self, per_block: int = 20000) -> Iterable[bytes]:
        yield b"# TYPE rel_huge gauge\n"
        for start in range(0, self.series, per_block):
            end = min(self.series, start + per_block)
            yield "".join(f'rel_huge{{series="{i:08d}"}} 1\n' for i in range(start, end)).encode()

    def body_size(self) -> int:
        return sum(len(b) for b in self.blocks())

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StreamServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_queue_records(path: Path) -> list[tuple[Path, int, int, bytes]]:
    """Unacknowledged records of the export queue (format in ``agent.export.queue``):
    ``(file, offset, end, uncompressed payload)``, stopping at the first torn record of a file."""
    from agent.export.queue import read_records

    return [(Path(seg), off, end, payload) for seg, off, end, payload in read_records(str(path))]
