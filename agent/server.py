"""The agent's own HTTP server: self-metrics, health, the targets API and pages, reload.

A deliberately small HTTP/1.1 server on asyncio streams (one request per connection, no
dependencies). Routes:

=======================  ======  ==========================================================
``/metrics``             GET     self-metrics (Prometheus text format)
``/healthz``             GET     200 while the process runs (also ``/-/healthy``)
``/readyz``              GET     200 when ready, else 503 with the reason (also ``/-/ready``)
``/api/v1/targets``      GET     Prometheus' JSON shape; ``?state=active|dropped|any``,
                                 ``?scrapePool=job``
``/api/v1/status/config`` GET    ``{"status":"success","data":{"yaml":...}}`` (secrets hidden)
``/targets``             GET     an HTML page of the targets, grouped by job
``/config``              GET     the loaded configuration as YAML text (secrets hidden)
``/-/reload``            POST    reload the config file; 500 with the error when refused;
                                 403 when started with ``--no-web.enable-lifecycle``
=======================  ======  ==========================================================

Nothing but ``POST /-/reload`` changes state.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from agent.model import DroppedTarget, TargetStatus

log = logging.getLogger("agent.server")

MAX_LINE = 8192
MAX_HEADERS = 100
MAX_BODY = 1 << 20
READ_TIMEOUT = 10.0


class AgentView(Protocol):
    """What the server reads from (and asks of) the running agent."""

    registry: CollectorRegistry
    lifecycle_enabled: bool

    def target_statuses(self) -> Sequence[TargetStatus]: ...

    def dropped_targets(self) -> Sequence[DroppedTarget]: ...

    def dropped_target_counts(self) -> Mapping[str, int]:
        """Dropped targets per job, including those beyond ``keep_dropped_targets``."""
        ...

    def config_yaml(self) -> str: ...

    def readiness(self) -> tuple[bool, str]: ...

    async def reload(self) -> str | None:
        """Reload the configuration; ``None`` on success, else the error text."""
        ...


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


_REASONS = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def text(status: int, body: str) -> Response:
    return Response(status, body.encode())


def json_response(status: int, obj: object) -> Response:
    return Response(status, json.dumps(obj).encode(), "application/json")


# ---------------------------------------------------------------------------------------------
# Formatting helpers (Prometheus' conventions)


def format_duration(seconds: float) -> str:
    """Prometheus' duration string (``model.Duration.String``): ``1m30s``, ``500ms``, ``0s``."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = []
    for unit, size in (
        ("y", 365 * 86400_000),
        ("w", 7 * 86400_000),
        ("d", 86400_000),
        ("h", 3600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


def rfc3339(ts: float | None) -> str:
    """RFC 3339 with nanoseconds trimmed like Go's ``time.RFC3339Nano``; Go's zero time if unset."""
    if ts is None or ts <= 0:
        return "0001-01-01T00:00:00Z"
    t = dt.datetime.fromtimestamp(ts, tz=dt.UTC)
    frac = f"{t.microsecond:06d}".rstrip("0")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def global_url(scrape_url: str, hostname: str) -> str:
    """The scrape URL with a loopback host replaced by this host's name (as Prometheus does)."""
    parts = urlsplit(scrape_url)
    host = parts.hostname or ""
    if host in ("localhost", "127.0.0.1", "::1") and hostname:
        netloc = hostname + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return scrape_url


def targets_api(
    active: Sequence[TargetStatus],
    dropped: Sequence[DroppedTarget],
    query: Mapping[str, list[str]],
    hostname: str = "",
    dropped_counts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The ``/api/v1/targets`` document (Prometheus web/api/v1 ``TargetDiscovery``)."""
    state = (query.get("state") or ["any"])[0].lower()
    pools = set(query.get("scrapePool") or [])
    show_active = state in ("", "any", "active")
    show_dropped = state in ("", "any", "dropped")
    data: dict[str, Any] = {"activeTargets": [], "droppedTargets": [], "droppedTargetCounts": {}}
    if show_active:
        for t in sorted(active, key=lambda t: (t.scrape_pool, t.scrape_url)):
            if pools and t.scrape_pool not in pools:
                continue
            data["activeTargets"].append(
                {
                    "discoveredLabels": dict(t.discovered_labels),
                    "labels": dict(t.labels),
                    "scrapePool": t.scrape_pool,
                    "scrapeUrl": t.scrape_url,
                    "globalUrl": global_url(t.scrape_url, hostname),
                    "lastError": t.last_error,
                    "lastScrape": rfc3339(t.last_scrape),
                    "lastScrapeDuration": t.last_scrape_duration,
                    "health": t.health,
                    "scrapeInterval": format_duration(t.scrape_interval),
                    "scrapeTimeout": format_duration(t.scrape_timeout),
                }
            )
    counts: dict[str, int] = {}
    for d in dropped:
        counts[d.scrape_pool] = counts.get(d.scrape_pool, 0) + 1
        if show_dropped and (not pools or d.scrape_pool in pools):
            data["droppedTargets"].append(
                {"discoveredLabels": dict(d.discovered_labels), "scrapePool": d.scrape_pool}
            )
    data["droppedTargetCounts"] = dict(dropped_counts) if dropped_counts is not None else counts
    return {"status": "success", "data": data}


_PAGE_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4} .up{color:#0a7d2c;font-weight:bold}
.down{color:#c0262d;font-weight:bold} .unknown{color:#888;font-weight:bold}
.lbl{display:inline-block;background:#eef;border-radius:3px;padding:0 .3em;margin:.1em}
.err{color:#c0262d;font-family:monospace} nav a{margin-right:1em}
"""


def _ago(ts: float | None, now: float) -> str:
    if ts is None or ts <= 0:
        return "never"
    d = max(0.0, now - ts)
    if d < 1:
        return f"{d * 1000:.0f}ms ago"
    if d < 120:
        return f"{d:.1f}s ago"
    return f"{format_duration(math.floor(d))} ago"


def targets_page(
    active: Sequence[TargetStatus],
    dropped_counts: Mapping[str, int],
    query: Mapping[str, list[str]],
    now: float | None = None,
) -> str:
    """A human page like Prometheus' /targets: one table per job, no JavaScript."""
    now = time.time() if now is None else now
    only_unhealthy = (query.get("state") or [""])[0] == "unhealthy"
    by_pool: dict[str, list[TargetStatus]] = {}
    for t in active:
        by_pool.setdefault(t.scrape_pool, []).append(t)
    esc = html.escape
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>scrape-agent targets</title>",
        f"<style>{_PAGE_STYLE}</style></head><body>",
        "<nav><a href='/targets'>All targets</a><a href='/targets?state=unhealthy'>Unhealthy</a>"
        "<a href='/config'>Config</a><a href='/metrics'>Self-metrics</a>"
        "<a href='/api/v1/targets'>API</a></nav>",
        "<h1>Targets</h1>",
    ]
    if not by_pool:
        out.append("<p>No active targets (yet). Discovery may still be running.</p>")
    for pool in sorted(set(by_pool) | set(dropped_counts)):
        ts = sorted(by_pool.get(pool, []), key=lambda t: t.scrape_url)
        up = sum(1 for t in ts if t.health == "up")
        shown = [t for t in ts if t.health != "up"] if only_unhealthy else ts
        if only_unhealthy and not shown:
            continue
        extra = (
            f", {dropped_counts[pool]} dropped by relabelling" if dropped_counts.get(pool) else ""
        )
        out.append(f"<h2 id='{esc(pool, quote=True)}'>{esc(pool)} ({up}/{len(ts)} up{extra})</h2>")
        if not shown:
            continue
        out.append(
            "<table><tr><th>Endpoint</th><th>State</th><th>Labels</th><th>Last scrape</th>"
            "<th>Scrape duration</th><th>Error</th></tr>"
        )
        for t in shown:
            labels = "".join(
                f"<span class='lbl'>{esc(k)}=&quot;{esc(v)}&quot;</span> "
                for k, v in sorted(t.labels.items())
            )
            health = t.health if t.health in ("up", "down") else "unknown"
            out.append(
                f"<tr><td><a href='{esc(t.scrape_url, quote=True)}'>{esc(t.scrape_url)}</a></td>"
                f"<td class='{health}'>{health.upper()}</td><td>{labels}</td>"
                f"<td>{_ago(t.last_scrape, now)}</td>"
                f"<td>{t.last_scrape_duration * 1000:.1f}ms</td>"
                f"<td class='err'>{esc(t.last_error)}</td></tr>"
            )
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class _BadRequest(Exception):
    def __init__(self, status: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    line = await reader.readline()
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise _BadRequest(400, "request line too long")
    try:
        method, target, _version = line.decode("latin-1").strip().split(" ", 2)
    except ValueError:
        raise _BadRequest(400, "malformed request line") from None
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    else:
        raise _BadRequest(400, "too many headers")
    body = b""
    length = headers.get("content-length", "0") or "0"
    if not length.isdigit():
        raise _BadRequest(400, "bad Content-Length")
    if int(length) > MAX_BODY:
        raise _BadRequest(413, "request body too large")
    if int(length):
        body = await reader.readexactly(int(length))
    parts = urlsplit(target)
    return Request(method.upper(), parts.path or "/", parse_qs(parts.query), headers, body)


class AgentServer:
    """Serves an :class:`AgentView` on ``host:port`` (port 0 picks a free port: see ``.port``)."""

    def __init__(self, view: AgentView, host: str, port: int, hostname: str = "") -> None:
        self._view = view
        self._host = host
        self._port = port
        self._hostname = hostname
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self.port = port
        self._routes: dict[
            str, tuple[tuple[str, ...], Callable[[Request], Awaitable[Response]]]
        ] = {
            "/metrics": (("GET",), self._metrics),
            "/healthz": (("GET",), self._healthz),
            "/-/healthy": (("GET",), self._healthz),
            "/readyz": (("GET",), self._readyz),
            "/-/ready": (("GET",), self._readyz),
            "/api/v1/targets": (("GET",), self._api_targets),
            "/api/v1/status/config": (("GET",), self._api_config),
            "/targets": (("GET",), self._targets),
            "/config": (("GET",), self._config),
            "/-/reload": (("POST", "PUT"), self._reload),
            "/": (("GET",), self._root),
        }

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self._host, self._port, limit=MAX_LINE, reuse_address=True
        )
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for t in list(self._conns):
                t.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            try:
                req = await asyncio.wait_for(_read_request(reader), READ_TIMEOUT)
            except _BadRequest as e:
                await self._write(writer, text(e.status, str(e) + "\n"), head=False)
                return
            except (TimeoutError, asyncio.IncompleteReadError, ValueError):
                return
            if req is None:
                return
            resp = await self.dispatch(req)
            await self._write(writer, resp, head=req.method == "HEAD")
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def dispatch(self, req: Request) -> Response:
        route = self._routes.get(req.path.rstrip("/") or "/")
        if route is None:
            return text(404, f"404 page not found: {req.path}\n")
        methods, handler = route
        method = "GET" if req.method == "HEAD" else req.method
        if method not in methods:
            return Response(
                405,
                f"method {req.method} not allowed on {req.path}; use {' or '.join(methods)}\n".encode(),
                headers={"Allow": ", ".join(methods)},
            )
        try:
            return await handler(req)
        except Exception as e:  # a bug in a page must not kill the server
            log.exception("error serving request", extra={"path": req.path})
            return text(500, f"internal error: {e}\n")

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, resp: Response, head: bool) -> None:
        reason = _REASONS.get(resp.status, "")
        lines = [
            f"HTTP/1.1 {resp.status} {reason}",
            f"Content-Type: {resp.content_type}",
            f"Content-Length: {len(resp.body)}",
            "Connection: close",
            "Cache-Control: no-store",
        ]
        lines += [f"{k}: {v}" for k, v in resp.headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not head:
            writer.write(resp.body)
        await writer.drain()

    # -- handlers -------------------------------------------------------------------------------

    async def _root(self, req: Request) -> Response:
        return Response(302, b"", headers={"Location": "/targets"})

    async def _metrics(self, req: Request) -> Response:
        return Response(200, generate_latest(self._view.registry), CONTENT_TYPE_LATEST)

    async def _healthz(self, req: Request) -> Response:
        return text(200, "scrape-agent is healthy.\n")

    async def _readyz(self, req: Request) -> Response:
        ok, reason = self._view.readiness()
        if ok:
            return text(200, "scrape-agent is ready.\n")
        return text(503, f"scrape-agent is not ready: {reason}\n")

    async def _api_targets(self, req: Request) -> Response:
        state = (req.query.get("state") or ["any"])[0].lower()
        if state not in ("", "any", "active", "dropped"):
            return json_response(
                400,
                {
                    "status": "error",
                    "errorType": "bad_data",
                    "error": f"invalid state {state!r}: use active, dropped or any",
                },
            )
        doc = targets_api(
            self._view.target_statuses(),
            self._view.dropped_targets(),
            req.query,
            self._hostname,
            self._view.dropped_target_counts(),
        )
        return json_response(200, doc)

    async def _api_config(self, req: Request) -> Response:
        return json_response(200, {"status": "success", "data": {"yaml": self._view.config_yaml()}})

    async def _targets(self, req: Request) -> Response:
        page = targets_page(
            self._view.target_statuses(), self._view.dropped_target_counts(), req.query
        )
        return Response(200, page.encode(), "text/html; charset=utf-8")

    async def _config(self, req: Request) -> Response:
        return Response(200, self._view.config_yaml().encode(), "text/plain; charset=utf-8")

    async def _reload(self, req: Request) -> Response:
        if not self._view.lifecycle_enabled:
            return text(
                403, "Lifecycle API is not enabled (started with --no-web.enable-lifecycle).\n"
            )
        err = await self._view.reload()
        if err is None:
            return text(200, "configuration reloaded\n")
        return text(500, f"failed to reload config: {err}\n")
