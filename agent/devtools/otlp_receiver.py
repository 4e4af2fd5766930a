"""A real OTLP metrics receiver (HTTP/protobuf and gRPC) for tests, demos and benchmarks.

Listens on 127.0.0.1 free ports in background threads and stops on ``stop()``, on leaving its
``with`` block, or at interpreter exit. Example::

    with OTLPReceiver(http=True, grpc=True) as rx:
        rx.http_endpoint, rx.grpc_endpoint     # "http://127.0.0.1:PORT"
        rx.script(Reply(status=503, retry_after="1"), Reply(delay=2.0))  # next replies, in order
        rx.down(); rx.up()                      # close / reopen the listening sockets (same port)
        rx.wait_points(10, timeout=5)
        for p in rx.points():                   # flattened records of every decoded request
            p.resource["service.name"], p.scope, p.metric, p.type, p.point, p.attributes

``decode=False`` keeps only the counters (``requests_total``, ``bytes_total`` (wire bytes),
``raw_bytes_total`` (uncompressed), ``points_total``) - for benchmarks.
"""

from __future__ import annotations

import atexit
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

__all__ = ["OTLPReceiver", "PointRecord", "Reply", "count_points"]

GRPC_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


@dataclass
class Reply:
    """One scripted reply. HTTP uses ``status``; gRPC uses ``grpc_code`` (a grpc.StatusCode
    name such as ``"UNAVAILABLE"``; empty = OK, or derived from ``status``)."""

    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    partial_rejected: int = 0
    partial_message: str = ""
    grpc_code: str = ""
    body: bytes | None = None  # raw HTTP body instead of an ExportMetricsServiceResponse


@dataclass
class PointRecord:
    resource: dict[str, Any]
    scope: str
    scope_version: str
    metric: str
    type: str  # gauge | sum | histogram | exponential_histogram | summary
    point: Any  # the opentelemetry.proto data point message
    metric_msg: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)


def _any_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind)


def kv_dict(kvs: Any) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in kvs}


def count_points(req: Any) -> int:
    n = 0
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind is not None:
                    n += len(getattr(m, kind).data_points)
    return n


def _status_for_grpc(reply: Reply) -> str:
    if reply.grpc_code:
        return reply.grpc_code
    if reply.status < 300:
        return ""
    return {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "UNIMPLEMENTED",
        429: "RESOURCE_EXHAUSTED",
        502: "UNAVAILABLE",
        503: "UNAVAILABLE",
        504: "UNAVAILABLE",
    }.get(reply.status, "INTERNAL")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: OTLPReceiver


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence
        return None

    def do_POST(self) -> None:  # noqa: N802
        rx = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rx._arrive()
        reply = rx._next_reply()
        if reply.delay:
            time.sleep(reply.delay)
        if self.path.rstrip("/") != "/v1/metrics":
            self._answer(404, b"not found", "text/plain")
            return
        if reply.status >= 300:
            with rx._lock:
                rx.rejected_total += 1
            extra = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
            self._answer(reply.status, reply.body or b"scripted failure", "text/plain", extra)
            return
        enc = (self.headers.get("Content-Encoding") or "").lower()
        try:
            # gzip.decompress reads every member: the agent's coalesced requests are the
            # concatenation of gzip members compressed before its queue (as Go's reader does).
            raw = gzip.decompress(body) if enc == "gzip" else body
            rx._record(raw, len(body), dict(self.headers.items()), "http")
        except (OSError, zlib.error, ValueError, EOFError) as e:
            self._answer(400, f"bad request: {e}".encode(), "text/plain")
            return
        if reply.body is not None:
            self._answer(reply.status, reply.body, "application/x-protobuf")
            return
        resp = ExportMetricsServiceResponse()
        if reply.partial_rejected or reply.partial_message:
            resp.partial_success.rejected_data_points = reply.partial_rejected
            resp.partial_success.error_message = reply.partial_message
        self._answer(reply.status, resp.SerializeToString(), "application/x-protobuf")

    def _answer(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


class OTLPReceiver:
    def __init__(
        self, http: bool = True, grpc: bool = False, decode: bool = True, tls_ca: Any = None
    ) -> None:
        """``tls_ca``: a ``trustme.CA``; HTTP and gRPC then serve TLS with a cert for 127.0.0.1
        and ``localhost`` (``https://`` endpoints)."""
        self.decode = decode
        self._tls_cert = tls_ca.issue_cert("127.0.0.1", "localhost") if tls_ca is not None else None
        self.requests: list[Any] = []  # decoded ExportMetricsServiceRequest messages
        self.headers: list[dict[str, str]] = []  # per request (HTTP headers / gRPC metadata)
        self.arrivals: list[float] = []  # time.monotonic() of every request, failed ones too
        self.requests_total = 0
        self.rejected_total = 0
        self.bytes_total = 0
        self.raw_bytes_total = 0
        self.points_total = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._script: list[Reply] = []
        self._want_http = http
        self._want_grpc = grpc
        self._http: _HTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc_server: Any = None
        self.http_port = 0
        self.grpc_port = 0
        self._started = False
        self.start()
        atexit.register(self.stop)

    # ------------------------------------------------------------------ lifecycle

    @property
    def http_endpoint(self) -> str:
        scheme = "https" if self._tls_cert is not None else "http"
        return f"{scheme}://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        scheme = "https" if self._tls_cert is not None else "http"
        return f"{scheme}://127.0.0.1:{self.grpc_port}"

    def start(self) -> None:
        if self._started:
            return
        if self._want_http:
            self._start_http()
        if self._want_grpc:
            self._start_grpc()
        self._started = True

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._stop_http()
        self._stop_grpc()

    def __enter__(self) -> OTLPReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def down(self) -> None:
        """Close the listening sockets: clients get 'connection refused' until ``up()``."""
        self.stop()

    def up(self) -> None:
        self.start()

    def _start_http(self) -> None:
        srv = _HTTPServer(("127.0.0.1", self.http_port), _Handler)
        srv.owner = self
        if self._tls_cert is not None:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls_cert.configure_cert(ctx)
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        self.http_port = srv.server_address[1]
        self._http = srv
        t = threading.Thread(
            target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="otlp-http"
        )
        t.start()
        self._http_thread = t

    def _stop_http(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None

    def _start_grpc(self) -> None:
        import grpc

        rx = self

        def export(request: bytes, context: Any) -> bytes:
            rx._arrive()
            reply = rx._next_reply()
            if reply.delay:
                time.sleep(reply.delay)
            code = _status_for_grpc(reply)
            if code:
                with rx._lock:
                    rx.rejected_total += 1
                if reply.retry_after is not None:
                    context.set_trailing_metadata(
                        _retry_info_trailer(float(reply.retry_after), code)
                    )
                context.abort(getattr(grpc.StatusCode, code), "scripted failure")
            rx._record(request, len(request), dict(context.invocation_metadata()), "grpc")
            resp = ExportMetricsServiceResponse()
            if reply.partial_rejected or reply.partial_message:
                resp.partial_success.rejected_data_points = reply.partial_rejected
                resp.partial_success.error_message = reply.partial_message
            return bytes(resp.SerializeToString())

        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.metrics.v1.MetricsService",
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    export, request_deserializer=None, response_serializer=None
                )
            },
        )
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4),
            options=[
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ],
        )
        server.add_generic_rpc_handlers((handler,))
        port = self.grpc_port or _free_port()
        if self._tls_cert is not None:
            creds = grpc.ssl_server_credentials(
                [
                    (
                        self._tls_cert.private_key_pem.bytes(),
                        self._tls_cert.cert_chain_pems[0].bytes(),
                    )
                ]
            )
            bound = server.add_secure_port(f"127.0.0.1:{port}", creds)
        else:
            bound = server.add_insecure_port(f"127.0.0.1:{port}")
        if bound == 0:
            raise RuntimeError(f"OTLPReceiver: cannot bind gRPC port {port}")
        self.grpc_port = bound
        server.start()
        self._grpc_server = server

    def _stop_grpc(self) -> None:
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None).wait(5)
            self._grpc_server = None

    # ------------------------------------------------------------------ behaviour

    def script(self, *replies: Reply) -> None:
        """Queue scripted replies; each request takes the next one (then 200 OK)."""
        with self._lock:
            self._script.extend(replies)

    def _arrive(self) -> None:
        with self._lock:
            self.arrivals.append(time.monotonic())

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.pop(0) if self._script else Reply()

    def _record(self, raw: bytes, wire_len: int, headers: dict[str, str], proto: str) -> None:
        req = ExportMetricsServiceRequest.FromString(raw)
        n = count_points(req)
        with self._cond:
            self.requests_total += 1
            self.bytes_total += wire_len
            self.raw_bytes_total += len(raw)
            self.points_total += n
            if self.decode:
                self.requests.append(req)
                self.headers.append({k.lower(): v for k, v in headers.items()})
            self._cond.notify_all()

    # ------------------------------------------------------------------ inspection

    def wait_points(self, n: int, timeout: float = 10.0) -> bool:
        """Block until at least ``n`` points were received (True) or ``timeout`` (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.points_total < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_requests(self, n: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.requests_total < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def points(self) -> Iterator[PointRecord]:
        with self._lock:
            reqs = list(self.requests)
        for req in reqs:
            for rm in req.resource_metrics:
                res = kv_dict(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        kind = m.WhichOneof("data")
                        if kind is None:
                            continue
                        for p in getattr(m, kind).data_points:
                            yield PointRecord(
                                res,
                                sm.scope.name,
                                sm.scope.version,
                                m.name,
                                kind,
                                p,
                                m,
                                kv_dict(p.attributes),
                            )

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.headers.clear()
            self.requests_total = self.bytes_total = self.raw_bytes_total = 0
            self.points_total = self.rejected_total = 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _retry_info_trailer(seconds: float, code: str) -> tuple[tuple[str, bytes], ...]:
    from google.protobuf import any_pb2
    from google.rpc import code_pb2, error_details_pb2, status_pb2  # type: ignore[import-untyped]

    info = error_details_pb2.RetryInfo()
    info.retry_delay.seconds = int(seconds)
    info.retry_delay.nanos = int((seconds - int(seconds)) * 1e9)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(
        code=code_pb2.Code.Value(code), message="retry later", details=[detail]
    )
    return (("grpc-status-details-bin", status.SerializeToString()),)
