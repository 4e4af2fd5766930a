"""The ``scrape_agent:`` section, with the standard ``OTEL_EXPORTER_OTLP_*`` fallbacks.

Precedence (as the OpenTelemetry specification asks: explicit configuration wins over the
environment), field by field:

1. the value written in ``scrape_agent.otlp`` (or ``queue``, ``node_local`` ...);
2. ``OTEL_EXPORTER_OTLP_METRICS_<X>`` (the signal-specific variable);
3. ``OTEL_EXPORTER_OTLP_<X>``;
4. the default in ``agent/config/_types.py``.

``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` is the full URL and is used as is (``signal_path=""``);
``OTEL_EXPORTER_OTLP_ENDPOINT`` and ``scrape_agent.otlp.endpoint`` are base URLs to which the HTTP
exporter appends ``/v1/metrics`` (``signal_path``). With ``protocol: grpc`` and no endpoint anywhere,
the default is ``http://localhost:4317``. ``OTEL_EXPORTER_OTLP_HEADERS`` is ``k=v,k2=v2`` with
URL-encoded keys and values; ``OTEL_EXPORTER_OTLP_TIMEOUT`` is in milliseconds.
``OTEL_RESOURCE_ATTRIBUTES`` (same format as the headers) adds resource attributes under the ones
the file sets. ``node_local.node_name`` defaults to ``$NODE_NAME``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from agent.config._decode import (
    Ctx,
    as_map,
    check_keys,
    get_bool,
    get_duration,
    get_size,
    get_str,
    get_str_map,
    get_uint,
    join,
)
from agent.config._types import (
    AgentSection,
    NodeLocalConfig,
    OTLPConfig,
    OTLPTLSConfig,
    QueueConfig,
)
from agent.config._yaml import YMap

PROTOCOLS = ("http/protobuf", "grpc")
COMPRESSIONS = ("gzip", "none")
START_TIMES = ("true_reset_point", "none")


def parse_kv_list(s: str) -> dict[str, str]:
    """``k=v,k2=v2`` (W3C baggage-like, URL-encoded) as used by OTEL_EXPORTER_OTLP_HEADERS."""
    out: dict[str, str] = {}
    for item in s.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ValueError(f"entry {item!r} is not of the form key=value")
        k, v = item.split("=", 1)
        k = unquote(k.strip())
        if not k:
            raise ValueError(f"entry {item!r} has an empty key")
        out[k] = unquote(v.strip())
    return out


class _Env:
    def __init__(self, ctx: Ctx, env: Mapping[str, str]) -> None:
        self.ctx = ctx
        self.env = env

    def get(self, suffix: str) -> tuple[str, str] | None:
        """(variable name, value) for ``OTEL_EXPORTER_OTLP_METRICS_<suffix>`` or the generic one."""
        for name in (f"OTEL_EXPORTER_OTLP_METRICS_{suffix}", f"OTEL_EXPORTER_OTLP_{suffix}"):
            v = self.env.get(name, "").strip()
            if v:
                return name, v
        return None

    def error(self, name: str, msg: str) -> None:
        self.ctx.errors.append(f"environment variable {name}: {msg}")


def _env_bool(e: _Env, suffix: str) -> bool | None:
    got = e.get(suffix)
    if got is None:
        return None
    name, v = got
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    e.error(name, f"expected true or false, got {v!r}")
    return None


def decode_agent(ctx: Ctx, node: YMap | None, path: str, env: Mapping[str, str]) -> AgentSection:
    e = _Env(ctx, env)
    m = node
    if m is not None:
        check_keys(
            ctx,
            m,
            path,
            ("otlp", "queue", "node_local", "start_time", "cluster_name", "resource_attributes"),
        )
    otlp = _decode_otlp(
        ctx, as_map(ctx, m.get("otlp") if m else None, join(path, "otlp")), join(path, "otlp"), e
    )

    qp = join(path, "queue")
    qm = as_map(ctx, m.get("queue") if m else None, qp)
    dq = QueueConfig()
    if qm is not None:
        check_keys(
            ctx,
            qm,
            qp,
            (
                "max_bytes",
                "batch_max_points",
                "batch_max_bytes",
                "retry_initial",
                "retry_max",
                "drain_timeout",
            ),
        )
    queue = QueueConfig(
        max_bytes=get_size(ctx, qm, "max_bytes", qp, dq.max_bytes, bare_int=True),
        batch_max_points=get_uint(ctx, qm, "batch_max_points", qp, dq.batch_max_points),
        batch_max_bytes=get_size(ctx, qm, "batch_max_bytes", qp, dq.batch_max_bytes, bare_int=True),
        retry_initial=get_duration(ctx, qm, "retry_initial", qp, dq.retry_initial)
        or dq.retry_initial,
        retry_max=get_duration(ctx, qm, "retry_max", qp, dq.retry_max) or dq.retry_max,
        drain_timeout=_or(
            get_duration(ctx, qm, "drain_timeout", qp, dq.drain_timeout), dq.drain_timeout
        ),
    )
    qline = qm.line if qm is not None else 0
    if queue.batch_max_points == 0:
        ctx.error(
            qm.key_line("batch_max_points") if qm else 0,
            join(qp, "batch_max_points"),
            "must be > 0",
        )
    if queue.max_bytes == 0:
        ctx.error(qm.key_line("max_bytes") if qm else 0, join(qp, "max_bytes"), "must be > 0")
    if queue.batch_max_bytes == 0:
        ctx.error(
            qm.key_line("batch_max_bytes") if qm else 0, join(qp, "batch_max_bytes"), "must be > 0"
        )
    elif queue.max_bytes and queue.batch_max_bytes > queue.max_bytes:
        ctx.error(qline, qp, "batch_max_bytes must not exceed max_bytes")
    if queue.retry_initial > queue.retry_max:
        ctx.error(qline, qp, "retry_initial must not exceed retry_max")

    np_ = join(path, "node_local")
    nm = as_map(ctx, m.get("node_local") if m else None, np_)
    if nm is not None:
        check_keys(ctx, nm, np_, ("enabled", "node_name"))
    node_name = get_str(ctx, nm, "node_name", np_) or env.get("NODE_NAME", "")
    node_local = NodeLocalConfig(
        enabled=get_bool(ctx, nm, "enabled", np_, False), node_name=node_name
    )
    if node_local.enabled and not node_name:
        ctx.warn(
            nm.line if nm else 0,
            np_,
            "enabled but no node_name and $NODE_NAME is unset: set NODE_NAME from the downward API "
            "(spec.nodeName) in the DaemonSet, or the agent will refuse to start",
        )

    start_time = get_str(ctx, m, "start_time", path, "true_reset_point") or "true_reset_point"
    if start_time not in START_TIMES:
        ctx.error(
            m.key_line("start_time") if m else 0,
            join(path, "start_time"),
            f'unknown start_time "{start_time}" (one of {", ".join(START_TIMES)})',
        )
    attrs: dict[str, str] = {}
    env_attrs = env.get("OTEL_RESOURCE_ATTRIBUTES", "").strip()
    if env_attrs:
        try:
            attrs.update(parse_kv_list(env_attrs))
        except ValueError as exc:
            e.error("OTEL_RESOURCE_ATTRIBUTES", str(exc))
    attrs.update(get_str_map(ctx, m, "resource_attributes", path) or {})
    return AgentSection(
        otlp=otlp,
        queue=queue,
        node_local=node_local,
        start_time=start_time,
        cluster_name=get_str(ctx, m, "cluster_name", path),
        resource_attributes=attrs,
    )


def _or(v: float | None, default: float) -> float:
    return default if v is None else v


def _decode_otlp(ctx: Ctx, m: YMap | None, path: str, e: _Env) -> OTLPConfig:
    d = OTLPConfig()
    if m is not None:
        check_keys(
            ctx, m, path, ("endpoint", "protocol", "headers", "compression", "timeout", "tls")
        )

    protocol = get_str(ctx, m, "protocol", path)
    if not protocol:
        got = e.get("PROTOCOL")
        if got:
            name, protocol = got
            if protocol not in PROTOCOLS:
                e.error(name, f'unsupported protocol "{protocol}" (one of {", ".join(PROTOCOLS)})')
                protocol = d.protocol
    elif protocol not in PROTOCOLS:
        ctx.error(
            m.key_line("protocol") if m else 0,
            join(path, "protocol"),
            f'unsupported protocol "{protocol}" (one of {", ".join(PROTOCOLS)})',
        )
    protocol = protocol or d.protocol

    endpoint = get_str(ctx, m, "endpoint", path)
    signal_path = "/v1/metrics"
    ep_line = m.key_line("endpoint") if m else 0
    ep_where = join(path, "endpoint")
    if not endpoint:
        specific = e.env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip()
        generic = e.env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        if specific:
            endpoint, ep_where, ep_line = specific, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", -1
            signal_path = ""
        elif generic:
            endpoint, ep_where, ep_line = generic, "OTEL_EXPORTER_OTLP_ENDPOINT", -1
    if not endpoint:
        endpoint = "http://localhost:4317" if protocol == "grpc" else d.endpoint
    if protocol == "grpc":
        signal_path = ""
    _check_endpoint(ctx, e, endpoint, protocol, ep_where, ep_line)

    headers = get_str_map(ctx, m, "headers", path)
    if headers is None:
        headers = {}
        got = e.get("HEADERS")
        if got:
            try:
                headers = parse_kv_list(got[1])
            except ValueError as exc:
                e.error(got[0], str(exc))

    compression = get_str(ctx, m, "compression", path)
    if not compression:
        got = e.get("COMPRESSION")
        if got:
            compression = got[1].lower()
            if compression not in COMPRESSIONS:
                e.error(
                    got[0], f'unsupported compression "{got[1]}" (one of {", ".join(COMPRESSIONS)})'
                )
                compression = ""
    elif compression not in COMPRESSIONS:
        ctx.error(
            m.key_line("compression") if m else 0,
            join(path, "compression"),
            f'unsupported compression "{compression}" (one of {", ".join(COMPRESSIONS)})',
        )
    compression = compression or d.compression

    timeout = get_duration(ctx, m, "timeout", path)
    if timeout is None:
        got = e.get("TIMEOUT")
        if got:
            try:
                ms = int(got[1])
                if ms <= 0:
                    raise ValueError
                timeout = ms / 1000.0
            except ValueError:
                e.error(got[0], f"expected a positive number of milliseconds, got {got[1]!r}")
    if timeout == 0:
        ctx.error(m.key_line("timeout") if m else 0, join(path, "timeout"), "must be > 0")
        timeout = None
    timeout = d.timeout if timeout is None else timeout

    tp = join(path, "tls")
    tm = as_map(ctx, m.get("tls") if m else None, tp)
    if tm is not None:
        check_keys(
            ctx, tm, tp, ("ca_file", "cert_file", "key_file", "insecure", "insecure_skip_verify")
        )

    def file_opt(key: str, suffix: str) -> str:
        v = get_str(ctx, tm, key, tp)
        if not v:
            got = e.get(suffix)
            v = got[1] if got else ""
        return v

    insecure: bool | None = None
    if tm is not None and tm.get("insecure") is not None:
        insecure = get_bool(ctx, tm, "insecure", tp, False)
    if insecure is None:
        insecure = _env_bool(e, "INSECURE") or False
    tls = OTLPTLSConfig(
        ca_file=file_opt("ca_file", "CERTIFICATE"),
        cert_file=file_opt("cert_file", "CLIENT_CERTIFICATE"),
        key_file=file_opt("key_file", "CLIENT_KEY"),
        insecure=insecure,
        insecure_skip_verify=get_bool(ctx, tm, "insecure_skip_verify", tp, False),
    )
    if tls.insecure_skip_verify and tm is not None:
        ctx.warn(
            tm.key_line("insecure_skip_verify"),
            join(tp, "insecure_skip_verify"),
            "TLS certificate verification is disabled: the OTLP endpoint is not authenticated",
        )
    if bool(tls.cert_file) != bool(tls.key_file):
        ctx.error(
            tm.line if tm else 0,
            tp,
            "cert_file and key_file must be set together (client certificate)",
        )
    return OTLPConfig(
        endpoint=endpoint,
        protocol=protocol,
        headers=headers,
        compression=compression,
        timeout=timeout,
        tls=tls,
        signal_path=signal_path,
    )


def _check_endpoint(ctx: Ctx, e: _Env, endpoint: str, protocol: str, where: str, line: int) -> None:
    problem = ""
    try:
        parts = urlsplit(endpoint)
        _ = parts.port
    except ValueError as exc:
        problem = f"invalid URL {endpoint!r}: {exc}"
    else:
        if parts.scheme in ("http", "https"):
            if not parts.hostname:
                problem = f"endpoint {endpoint!r} has no host"
        elif protocol == "grpc" and "://" not in endpoint and ":" in endpoint:
            pass  # host:port, as the collector's otlp exporter accepts
        else:
            problem = f"endpoint {endpoint!r} must be an http:// or https:// URL"
    if problem:
        if line == -1:
            e.error(where, problem)
        else:
            ctx.error(line, where, problem)
