"""One OTLP export attempt over HTTP/protobuf (httpx) or gRPC (grpc.aio).

``send()`` never raises for transport or backend errors: it returns a ``SendResult`` that says
whether the request was accepted, should be retried (and after how long, when the backend
said), or must be dropped.

HTTP endpoint: ``agent.otlp.endpoint`` gets ``signal_path`` (``/v1/metrics``) appended unless its
path already ends with it, so a base URL such as ``http://signoz:4318`` works; an endpoint taken
from ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` has ``signal_path=""`` and is used as is, as the OTel
specification says.

Retry policy: HTTP 408, 429 and every 5xx are retried (as Prometheus' remote write does; OTLP
lists 429/502/503/504), with ``Retry-After`` (seconds or an HTTP date) honoured; any other
status drops the request. gRPC: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, CANCELLED,
OUT_OF_RANGE, DATA_LOSS and RESOURCE_EXHAUSTED (the latter only when the server sent
``RetryInfo``, as the OTLP spec says) are retried; other codes drop the request.

gRPC endpoint: ``http://host:port`` -> plaintext, ``https://host:port`` -> TLS, bare
``host:port`` -> TLS unless ``tls.insecure``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx

from agent import __version__
from agent.config._types import OTLPConfig
from agent.export.codec import deflate as _deflate

log = logging.getLogger("agent.export")

__all__ = ["GRPCSender", "HTTPSender", "SendResult", "make_sender", "metrics_url"]

GRPC_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
USER_AGENT = f"scrape-agent/{__version__}"
_GZIP_INLINE_MAX = 64 * 1024  # larger payloads are compressed in a worker thread
# ISA-L's gzip (same format): level 1 ~5x faster than zlib's and smaller (docs/PERFORMANCE.md)


@dataclass(slots=True)
class SendResult:
    ok: bool
    retryable: bool = False
    retry_after: float | None = None  # seconds, when the backend said
    error: str = ""
    rejected_points: int = 0  # partial success
    partial_message: str = ""


def metrics_url(endpoint: str, signal_path: str = "/v1/metrics") -> str:
    ep = endpoint.strip()
    if "://" not in ep:
        ep = "http://" + ep
    if not signal_path:
        return ep
    parsed = urllib.parse.urlsplit(ep)
    path = parsed.path.rstrip("/")
    if not path.endswith(signal_path):
        path += signal_path
    return urllib.parse.urlunsplit(parsed._replace(path=path))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    return max(0.0, dt.timestamp() - (time.time() if now is None else now))


def _partial(body: bytes) -> tuple[int, str]:
    if not body:
        return 0, ""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceResponse,
    )

    try:
        resp = ExportMetricsServiceResponse.FromString(body)
    except Exception:  # a non-protobuf 200 body is not our problem
        return 0, ""
    if not resp.HasField("partial_success"):
        return 0, ""
    return int(resp.partial_success.rejected_data_points), str(resp.partial_success.error_message)


async def _gzip(payload: bytes) -> bytes:
    if len(payload) <= _GZIP_INLINE_MAX:
        return _deflate(payload, 1, mtime=0)
    return await asyncio.to_thread(_deflate, payload, 1, mtime=0)


def _ssl_context(cfg: OTLPConfig) -> ssl.SSLContext:
    tls = cfg.tls
    ctx = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class HTTPSender:
    def __init__(self, cfg: OTLPConfig) -> None:
        self.cfg = cfg
        self.url = metrics_url(cfg.endpoint, cfg.signal_path)
        self.gzip = cfg.compression.lower() == "gzip"
        headers = {"Content-Type": "application/x-protobuf", "User-Agent": USER_AGENT}
        if self.gzip:
            headers["Content-Encoding"] = "gzip"
        headers.update(cfg.headers)
        self.headers = headers
        verify: ssl.SSLContext | bool = True
        if self.url.startswith("https://"):
            verify = _ssl_context(cfg)
        # The headers are the client's own and the URL is parsed once: httpx merges the
        # client's headers with a request's by the same ``Headers.update`` either way (the
        # same header lines, in the same order), but no longer per request (~60 us a POST).
        self.client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(cfg.timeout),
            verify=verify,
            trust_env=True,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
        )
        self._url: httpx.URL | str = self.url
        with contextlib.suppress(httpx.InvalidURL):  # an invalid one fails each send, as before
            self._url = httpx.URL(self.url)

    async def send(self, payload: bytes, compressed: bool = False) -> SendResult:
        """POST one request; ``compressed``: ``payload`` is already gzip (with ``gzip`` on)."""
        body = await _gzip(payload) if self.gzip and not compressed else payload
        try:
            resp = await self.client.post(self._url, content=body)
        except httpx.TimeoutException as e:
            return SendResult(False, True, error=f"POST {self.url}: timeout ({type(e).__name__})")
        except httpx.HTTPError as e:
            return SendResult(False, True, error=f"POST {self.url}: {type(e).__name__}: {e}")
        code = resp.status_code
        if 200 <= code < 300:
            rejected, msg = _partial(resp.content)
            return SendResult(True, rejected_points=rejected, partial_message=msg)
        text = resp.text[:300].strip().replace("\n", " ")
        err = f"POST {self.url}: HTTP {code}" + (f": {text}" if text else "")
        if code in (408, 429) or code >= 500:
            return SendResult(False, True, parse_retry_after(resp.headers.get("Retry-After")), err)
        return SendResult(False, False, error=err)

    async def close(self) -> None:
        await self.client.aclose()


class GRPCSender:
    def __init__(
        self, cfg: OTLPConfig, reconnect_ms: float = 1000.0, max_reconnect_ms: float = 30000.0
    ) -> None:
        import grpc
        import grpc.aio

        self.cfg = cfg
        self._grpc = grpc
        ep = cfg.endpoint.strip()
        secure = not cfg.tls.insecure
        if ep.startswith("http://"):
            secure, ep = False, ep[len("http://") :]
        elif ep.startswith("https://"):
            secure, ep = True, ep[len("https://") :]
        self.target = ep.rstrip("/")
        options: list[tuple[str, Any]] = [
            ("grpc.primary_user_agent", USER_AGENT),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            # Reconnect about as fast as our own retries; grpc's default backoff grows to 120 s,
            # which would keep failing fast long after the backend is back.
            ("grpc.initial_reconnect_backoff_ms", int(reconnect_ms)),
            ("grpc.min_reconnect_backoff_ms", int(reconnect_ms)),
            ("grpc.max_reconnect_backoff_ms", int(max(reconnect_ms, max_reconnect_ms))),
        ]
        compression = (
            grpc.Compression.Gzip
            if cfg.compression.lower() == "gzip"
            else grpc.Compression.NoCompression
        )
        if secure:
            tls = cfg.tls
            if tls.insecure_skip_verify:
                log.warning(
                    "otlp.tls.insecure_skip_verify is not supported for gRPC (grpcio cannot skip "
                    "verification); set tls.ca_file to the backend's CA instead"
                )

            def _read(path: str) -> bytes | None:
                if not path:
                    return None
                with open(path, "rb") as f:
                    return f.read()

            creds = grpc.ssl_channel_credentials(
                root_certificates=_read(tls.ca_file),
                private_key=_read(tls.key_file),
                certificate_chain=_read(tls.cert_file),
            )
            self.channel = grpc.aio.secure_channel(
                self.target, creds, options=options, compression=compression
            )
        else:
            self.channel = grpc.aio.insecure_channel(
                self.target, options=options, compression=compression
            )
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
            ExportMetricsServiceResponse,
        )

        # The generated stub's method, fed with our already-encoded request bytes.
        self._export = self.channel.unary_unary(
            GRPC_METHOD,
            request_serializer=lambda b: b,
            response_deserializer=ExportMetricsServiceResponse.FromString,
        )
        self.metadata = tuple((k.lower(), v) for k, v in cfg.headers.items())

    async def send(self, payload: bytes) -> SendResult:
        grpc = self._grpc
        try:
            resp = await self._export(payload, timeout=self.cfg.timeout, metadata=self.metadata)
        except grpc.aio.AioRpcError as e:
            code = e.code()
            err = f"gRPC {self.target}: {code.name}: {e.details() or ''}".rstrip(": ")
            retry_after = _grpc_retry_delay(e)
            retryable_codes = (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.ABORTED,
                grpc.StatusCode.CANCELLED,
                grpc.StatusCode.OUT_OF_RANGE,
                grpc.StatusCode.DATA_LOSS,
            )
            if code in retryable_codes:
                return SendResult(False, True, retry_after, err)
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED and retry_after is not None:
                return SendResult(False, True, retry_after, err)
            return SendResult(False, False, error=err)
        except Exception as e:  # channel closed, serialization...: retry
            return SendResult(False, True, error=f"gRPC {self.target}: {type(e).__name__}: {e}")
        rejected = msg = None
        if resp.HasField("partial_success"):
            rejected = int(resp.partial_success.rejected_data_points)
            msg = str(resp.partial_success.error_message)
        return SendResult(True, rejected_points=rejected or 0, partial_message=msg or "")

    async def close(self) -> None:
        await self.channel.close()


def _grpc_retry_delay(err: Any) -> float | None:
    """RetryInfo.retry_delay from the ``grpc-status-details-bin`` trailer, if any."""
    try:
        from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

        for k, v in err.trailing_metadata() or ():
            if k == "grpc-status-details-bin":
                status = status_pb2.Status.FromString(v)
                for detail in status.details:
                    if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                        info = error_details_pb2.RetryInfo()
                        detail.Unpack(info)
                        d = info.retry_delay
                        return float(d.seconds) + float(d.nanos) / 1e9
    except Exception:
        return None
    return None


def make_sender(
    cfg: OTLPConfig, retry_initial: float = 1.0, retry_max: float = 30.0
) -> HTTPSender | GRPCSender:
    if cfg.protocol.lower() == "grpc":
        return GRPCSender(cfg, max(10.0, retry_initial * 1000), max(10.0, retry_max * 1000))
    return HTTPSender(cfg)
