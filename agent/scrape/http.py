"""Fetch one scrape over HTTP(S), as Prometheus' ``targetScraper`` does.

One ``ScrapeClient`` per job (its ``http_client`` config): a shared ``httpx.AsyncClient`` with
the job's TLS, proxy and HTTP/2 settings. Each ``fetch(target)``:

- sends ``Accept`` built from ``scrape_protocols`` with Prometheus' q-weights,
  ``Accept-Encoding: gzip`` (or ``identity`` with ``enable_compression: false``),
  ``User-Agent: scrape-agent/<version>`` and ``X-Prometheus-Scrape-Timeout-Seconds``;
- adds credentials read *now* (``credentials_file``, ``password_file`` and header ``files``
  are re-read on every scrape, so a rotated service-account token is used at once);
- follows redirects itself (at most 10, as Go) and sends credentials only to the target's own
  ``host:port``, never to another host;
- streams the body and stops at ``body_size_limit`` (decompressed bytes, as Prometheus);
- enforces ``scrape_timeout`` on the whole exchange.

Errors are ``ScrapeError`` with Prometheus' wording (``server returned HTTP status 500
Internal Server Error``, ``body size limit exceeded``, ``Get "<url>": context deadline
exceeded``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import ssl
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from agent import __version__
from agent.config import HTTPClientConfig, ScrapeConfig, TLSConfig

_fast_zlib: Any
try:  # ISA-L's zlib: the same format and API as zlib, ~2.5x faster to inflate (bench/)
    from isal import isal_zlib as _fast_zlib
except ImportError:  # pragma: no cover - a declared dependency; httpx's zlib is the fallback
    _fast_zlib = None

USER_AGENT = f"scrape-agent/{__version__}"

# httpcore asks ``import sniffio`` on every request; without sniffio installed each failing
# import searched sys.path (~0.25 ms per scrape, ~10% of a small scrape's CPU). Recording the
# absence makes the import fail at once (the documented ``sys.modules[name] = None`` form).
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]
MAX_REDIRECTS = 10

# P config/config.go ScrapeProtocolsHeaders.
SCRAPE_PROTOCOL_HEADERS: dict[str, str] = {
    "PrometheusProto": "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
    "PrometheusText0.0.4": "text/plain;version=0.0.4",
    "PrometheusText1.0.0": "text/plain;version=1.0.0",
    "OpenMetricsText0.0.1": "application/openmetrics-text;version=0.0.1",
    "OpenMetricsText1.0.0": "application/openmetrics-text;version=1.0.0",
}
_ESCAPING_PROTOCOLS = frozenset({"PrometheusText1.0.0", "OpenMetricsText1.0.0"})

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


class ScrapeError(Exception):
    """A failed scrape; ``str()`` is the message the targets page shows."""


def accept_header(protocols: Sequence[str], validation_scheme: str = "utf8") -> str:
    """Prometheus' ``acceptHeader``: weights from 0.(n+1) down, then ``*/*``."""
    escaping = "allow-utf-8" if validation_scheme == "utf8" else "underscores"
    weight = len(SCRAPE_PROTOCOL_HEADERS) + 1
    vals = []
    for proto in protocols:
        val = SCRAPE_PROTOCOL_HEADERS.get(proto, proto)
        if proto in _ESCAPING_PROTOCOLS:
            val += f";escaping={escaping}"
        vals.append(f"{val};q=0.{weight}")
        weight -= 1
    vals.append(f"*/*;q=0.{weight}")
    return ",".join(vals)


def format_seconds(x: float) -> str:
    """Go's ``strconv.FormatFloat(x, 'f', -1, 64)`` for ordinary durations."""
    s = f"{x:.9f}".rstrip("0").rstrip(".")
    return s or "0"


def _read_secret_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as exc:
        raise ScrapeError(f"unable to read {what} {path}: {exc.strerror or exc}") from exc


def build_ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """An ``SSLContext`` for ``tls_config`` (min TLS 1.2 unless ``min_version`` says otherwise)."""
    # A configured CA is the only trust anchor, as in Prometheus (its own cert pool); without one,
    # the system's CAs are used.
    ctx = ssl.create_default_context(cafile=tls.ca_file or None, cadata=tls.ca or None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = _TLS_VERSIONS.get(tls.min_version or "TLS12", ssl.TLSVersion.TLSv1_2)
    if tls.max_version:
        ctx.maximum_version = _TLS_VERSIONS[tls.max_version]
    cert, key = tls.cert, tls.key
    if tls.cert_file or tls.cert:
        if cert or key:
            # ssl only loads a chain from files: write inline PEMs to a private temp dir.
            with tempfile.TemporaryDirectory(prefix="scrape-agent-tls-") as d:
                cf = tls.cert_file
                kf = tls.key_file
                if cert:
                    cf = os.path.join(d, "cert.pem")
                    with open(cf, "w", encoding="utf-8") as f:
                        f.write(cert)
                if key:
                    kf = os.path.join(d, "key.pem")
                    with open(os.open(kf, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                        f.write(key)
                ctx.load_cert_chain(cf, kf or None)
        else:
            ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    return ctx


_PIECE = 1 << 20  # bytes of inflated body handed to the parser at a time


@dataclass(slots=True)
class ScrapeResponse:
    """A scrape's response body. ``body`` is the body as sent: inflated already unless
    ``gzipped`` (``fetch(..., lazy=True)``), in which case :meth:`pieces` inflates it a piece
    at a time, so the whole inflated page is never in memory at once."""

    body: bytes
    content_type: str
    gzipped: bool = False
    limit: int = 0  # body_size_limit, applied to inflated bytes by pieces()
    url: str = ""

    def pieces(self) -> Iterator[bytes]:
        """The inflated body in order, in pieces of up to ~1 MB. Raises ScrapeError for a
        corrupt gzip body or one over ``body_size_limit`` (checked as it inflates)."""
        if not self.gzipped:
            yield self.body
            return
        assert _fast_zlib is not None
        d = _fast_zlib.decompressobj(16 + _fast_zlib.MAX_WBITS)
        limit = self.limit
        n = 0
        data = self.body
        try:
            while data:
                piece = d.decompress(data, _PIECE)
                data = d.unconsumed_tail
                n += len(piece)
                if limit > 0 and n >= limit:
                    raise ScrapeError("body size limit exceeded")
                if piece:
                    yield piece
                if d.eof:
                    break
            piece = d.flush()
        except _fast_zlib.error as exc:
            raise ScrapeError(f'Get "{self.url}": {exc}') from None
        n += len(piece)
        if limit > 0 and n >= limit:
            raise ScrapeError("body size limit exceeded")
        if piece:
            yield piece


class ScrapeClient:
    """The HTTP side of scraping for one job; create once per job, share across targets."""

    def __init__(self, cfg: ScrapeConfig, transport: httpx.AsyncBaseTransport | None = None):
        self.http_cfg: HTTPClientConfig = cfg.http_client
        self.accept = accept_header(cfg.scrape_protocols, cfg.metric_name_validation_scheme)
        self.accept_encoding = "gzip" if cfg.enable_compression else "identity"
        self.body_size_limit = cfg.body_size_limit
        self._server_name = cfg.http_client.tls_config.server_name
        self._transport = transport
        self._refs: dict[_PoolKey, int] = {}
        self._per_origin: _PerOriginTransport | None = None
        self._client: httpx.AsyncClient | None = None
        # Unreadable TLS files fail each scrape with the reason (as Prometheus, which loads
        # them lazily) and are retried on the next scrape, so fixing the file is enough.
        self.setup_error = ""
        self._setup()

    def _setup(self) -> None:
        hc = self.http_cfg
        try:
            verify = build_ssl_context(hc.tls_config)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            self.setup_error = f"unable to load TLS config: {exc}"
            return
        self.setup_error = ""
        kwargs: dict[str, object] = {}
        if self._transport is not None:
            kwargs["transport"] = self._transport
        elif hc.proxy_url:
            try:
                kwargs["mounts"] = _proxy_mounts(hc, verify, {"all://": hc.proxy_url}, hc.no_proxy)
            except (ValueError, httpx.InvalidURL) as exc:
                self.setup_error = f"invalid proxy_url: {exc}"
                return
        elif hc.proxy_from_environment and (env_proxy := _environment_proxies())[0]:
            try:
                kwargs["mounts"] = _proxy_mounts(hc, verify, *env_proxy)
            except (ValueError, httpx.InvalidURL) as exc:
                self.setup_error = f"invalid proxy in HTTP_PROXY/HTTPS_PROXY: {exc}"
                return
        else:
            self._per_origin = _PerOriginTransport(
                lambda: httpx.AsyncHTTPTransport(
                    verify=verify, http2=hc.enable_http2, limits=_LIMITS
                )
            )
            kwargs["transport"] = self._per_origin
        self._client = httpx.AsyncClient(
            verify=verify,
            http2=hc.enable_http2,
            follow_redirects=False,
            trust_env=False,  # proxies from the environment are mounted above, when asked for
            timeout=None,
            limits=_LIMITS,
            **kwargs,  # type: ignore[arg-type]
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def acquire(self, url: str) -> None:
        """A scrape loop for ``url`` starts: it gets a connection pool of its own."""
        key = _pool_key(url)
        self._refs[key] = self._refs.get(key, 0) + 1
        if self._per_origin is not None:
            self._per_origin.wanted.add(key)

    async def release(self, url: str) -> None:
        """A loop for ``url`` stopped: close its pool if no loop for that URL is left."""
        key = _pool_key(url)
        n = self._refs.get(key, 0) - 1
        if n > 0:
            self._refs[key] = n
            return
        self._refs.pop(key, None)
        if self._per_origin is not None:
            self._per_origin.wanted.discard(key)
            await self._per_origin.close_origin(key)

    # -- headers ---------------------------------------------------------------------------
    def _credentials(self) -> dict[str, str]:
        """Headers that carry secrets; computed per request (files re-read every time)."""
        hc = self.http_cfg
        out: dict[str, str] = {}
        if hc.authorization is not None:
            a = hc.authorization
            cred = a.credentials
            if a.credentials_file:
                cred = _read_secret_file(a.credentials_file, "authorization credentials file")
            out["Authorization"] = f"{a.type or 'Bearer'} {cred}"
        elif hc.basic_auth is not None:
            b = hc.basic_auth
            user = b.username
            if b.username_file:
                user = _read_secret_file(b.username_file, "basic auth username file")
            pw = b.password
            if b.password_file:
                pw = _read_secret_file(b.password_file, "basic auth password file")
            out["Authorization"] = httpx.BasicAuth(user, pw)._auth_header
        for name, h in hc.http_headers.items():
            vals = list(h.secrets)
            for path in h.files:
                vals.append(_read_secret_file(path, f"http header {name} file"))
            if vals:
                # Prometheus adds values, secrets and files all (one header line each); this
                # replaces the values-only header set by _headers.
                vals = [*h.values, *vals]
                out[name] = ", ".join(vals) if len(vals) > 1 else vals[0]
        return out

    def _headers(self, timeout: float) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, h in self.http_cfg.http_headers.items():
            if h.values:
                out[name] = ", ".join(h.values)
        out["Accept"] = self.accept
        out["Accept-Encoding"] = self.accept_encoding
        out["User-Agent"] = USER_AGENT
        out["X-Prometheus-Scrape-Timeout-Seconds"] = format_seconds(timeout)
        return out

    # -- fetch -----------------------------------------------------------------------------
    async def fetch(self, url: str, timeout: float, *, lazy: bool = False) -> ScrapeResponse:
        """GET a scrape URL. ``lazy=True``: a gzip body is returned as received, to be
        inflated by ``ScrapeResponse.pieces()`` (where its limit and corruption errors then
        surface); otherwise ``body`` is the inflated body."""
        if self._client is None:
            self._setup()
            if self._client is None:
                raise ScrapeError(f'Get "{url}": {self.setup_error}')
        try:
            async with asyncio.timeout(timeout):
                return await self._fetch(url, timeout, lazy)
        except TimeoutError:
            raise ScrapeError(f'Get "{url}": context deadline exceeded') from None
        except httpx.HTTPError as exc:
            raise ScrapeError(f'Get "{url}": {_describe(exc, url)}') from None
        except ssl.SSLError as exc:
            raise ScrapeError(f'Get "{url}": tls: {exc}') from None
        except OSError as exc:
            raise ScrapeError(f'Get "{url}": {exc}') from None

    async def _fetch(self, url: str, timeout: float, lazy: bool) -> ScrapeResponse:
        client = self._client
        assert client is not None
        origin = _origin(url)
        base_headers = self._headers(timeout)
        secret_headers = self._credentials()
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            headers = dict(base_headers)
            if _origin(current) == origin:
                headers.update(secret_headers)
            ext = {"sni_hostname": self._server_name} if self._server_name else None
            req = client.build_request("GET", current, headers=headers, extensions=ext)
            resp = await client.send(req, stream=True)
            try:
                if resp.is_redirect and self.http_cfg.follow_redirects:
                    location = resp.headers.get("location", "")
                    current = urljoin(current, location)
                    continue
                if resp.status_code != 200:
                    raise ScrapeError(
                        f"server returned HTTP status {resp.status_code} {resp.reason_phrase}"
                    )
                ctype = resp.headers.get("content-type", "")
                enc = resp.headers.get("content-encoding", "").strip().lower()
                if _fast_zlib is not None and enc == "gzip":
                    raw = await self._read_raw(resp, self.body_size_limit)
                    got = ScrapeResponse(raw, ctype, True, self.body_size_limit, current)
                    if lazy:
                        return got
                    return ScrapeResponse(b"".join(got.pieces()), ctype, url=current)
                body = await self._read_limited(resp)
                return ScrapeResponse(body, ctype, url=current)
            finally:
                await resp.aclose()
        raise ScrapeError(f'Get "{url}": stopped after {MAX_REDIRECTS} redirects')

    async def _read_limited(self, resp: httpx.Response) -> bytes:
        limit = self.body_size_limit
        chunks: list[bytes] = []
        n = 0
        async for chunk in resp.aiter_bytes():  # decompressed, as Prometheus counts
            n += len(chunk)
            if limit > 0 and n >= limit:
                raise ScrapeError("body size limit exceeded")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    async def _read_raw(resp: httpx.Response, limit: int) -> bytes:
        """A gzip body as received. Its inflated size is checked by ``pieces()``; here only a
        body whose compressed size alone proves it over the limit stops the read early
        (deflate never grows data by more than ~0.1% plus headers)."""
        chunks: list[bytes] = []
        n = 0
        cap = limit + limit // 500 + 1024 if limit > 0 else 0
        async for raw in resp.aiter_raw():
            n += len(raw)
            if cap and n >= cap:
                raise ScrapeError("body size limit exceeded")
            chunks.append(raw)
        return b"".join(chunks)


# As Prometheus (MaxIdleConns 20000, IdleConnTimeout 5m): no cap on connections, so scrapes
# of many targets never queue behind each other.
_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=20000, keepalive_expiry=300)


# (scheme, host, port, path): one pool per scrape URL; path "" is an origin's shared pool.
_PoolKey = tuple[str, str, int | None, str]


def _pool_key(url: str) -> _PoolKey:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port, parts.path


class _PerOriginTransport(httpx.AsyncBaseTransport):
    """One connection pool per scrape URL.

    httpcore's pool walks every connection it holds on each request, so a single pool shared
    by hundreds of targets made each scrape cost O(targets) — and targets often share an
    origin (the API server proxy for every kubelet, one exporter with many paths). Each URL a
    scrape loop uses (``wanted``) gets its own pool, holding its one keep-alive connection;
    other requests (redirect destinations) share their origin's pool. A pool no loop uses any
    more is closed (``ScrapeClient.release``)."""

    def __init__(self, factory: Callable[[], httpx.AsyncHTTPTransport]) -> None:
        self._factory = factory
        self._pools: dict[_PoolKey, httpx.AsyncHTTPTransport] = {}
        self.wanted: set[_PoolKey] = set()

    async def close_origin(self, key: _PoolKey) -> None:
        pool = self._pools.pop(key, None)
        if pool is not None:
            await pool.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        u = request.url
        key = (u.scheme, u.host.lower(), u.port, u.path)
        if key not in self.wanted:
            key = (u.scheme, u.host.lower(), u.port, "")
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = self._factory()
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


def _environment_proxies() -> tuple[dict[str, str], str]:
    """``proxy_from_environment``: as Go's ``http.ProxyFromEnvironment``, ``HTTP_PROXY`` for
    http URLs, ``HTTPS_PROXY`` for https URLs (upper or lower case), minus ``NO_PROXY``."""
    env = os.environ
    proxies: dict[str, str] = {}
    for scheme in ("http", "https"):
        value = env.get(f"{scheme.upper()}_PROXY") or env.get(f"{scheme}_proxy")
        if value:
            proxies[f"{scheme}://"] = value
    return proxies, env.get("NO_PROXY") or env.get("no_proxy") or ""


def _proxy_mounts(
    hc: HTTPClientConfig, verify: ssl.SSLContext, proxies: dict[str, str], no_proxy: str
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """``proxies`` (mount pattern -> proxy URL) for every request except the ``no_proxy`` hosts
    (names, IPs, ``.domain`` suffixes; CIDR ranges are not supported and are ignored with the
    rest of the list)."""
    headers = {k: ", ".join(v) for k, v in hc.proxy_connect_header.items()}
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        pattern: httpx.AsyncHTTPTransport(
            proxy=httpx.Proxy(url, headers=headers or None), verify=verify, http2=hc.enable_http2
        )
        for pattern, url in proxies.items()
    }
    for entry in (e.strip() for e in no_proxy.split(",")):
        if not entry or "/" in entry:
            continue
        direct = httpx.AsyncHTTPTransport(verify=verify, http2=hc.enable_http2)
        if entry.startswith("."):
            mounts[f"all://*{entry}"] = direct
        else:
            mounts[f"all://{entry}"] = direct
    return mounts


def _origin(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    port = parts.port
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return (parts.hostname or "").lower(), port


def _describe(exc: httpx.HTTPError, url: str) -> str:
    """Go-like wording for the common network failures, else httpx's message."""
    chain: list[BaseException] = []
    x: BaseException | None = exc
    while x is not None and len(chain) < 10:
        chain.append(x)
        x = x.__cause__ or x.__context__
    parts = urlsplit(url)
    hostport = parts.netloc.rsplit("@", 1)[-1]
    for e in chain:
        if isinstance(e, socket.gaierror):
            return f"dial tcp: lookup {parts.hostname}: no such host"
        if isinstance(e, ConnectionRefusedError):
            return f"dial tcp {hostport}: connect: connection refused"
        if isinstance(e, ConnectionResetError):
            return "read: connection reset by peer"
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"tls: failed to verify certificate: {e.verify_message or e.reason}"
        if isinstance(e, ssl.SSLError):
            return f"tls: {e.reason or e}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"EOF ({exc})" if str(exc) else "EOF"
    text = str(exc) or next((str(e) for e in chain if str(e)), "")
    return text or type(exc).__name__
