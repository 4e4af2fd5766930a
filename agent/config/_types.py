"""The loaded configuration: frozen dataclasses with Prometheus' field names and defaults.

Durations are float seconds, sizes are int bytes. ``0`` for a limit means "no limit", as in
Prometheus. These types are the contract every later stage reads; the loader
(``agent.config.load``) is the only place that builds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relabel import Rule

DEFAULT_SCRAPE_PROTOCOLS: tuple[str, ...] = (
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
)


@dataclass(frozen=True)
class TLSConfig:
    ca: str = ""
    ca_file: str = ""
    cert: str = ""
    cert_file: str = ""
    key: str = ""  # secret
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False
    min_version: str = ""  # "TLS12", "TLS13", ...
    max_version: str = ""


@dataclass(frozen=True)
class BasicAuth:
    username: str = ""
    username_file: str = ""
    password: str = ""  # secret
    password_file: str = ""


@dataclass(frozen=True)
class Authorization:
    """``authorization`` block; ``bearer_token``/``bearer_token_file`` are folded into it."""

    type: str = "Bearer"
    credentials: str = ""  # secret
    credentials_file: str = ""  # re-read on every request


@dataclass(frozen=True)
class HTTPHeader:
    values: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class HTTPClientConfig:
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    tls_config: TLSConfig = field(default_factory=TLSConfig)
    proxy_url: str = ""
    no_proxy: str = ""
    proxy_from_environment: bool = False
    proxy_connect_header: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    follow_redirects: bool = True
    enable_http2: bool = True
    http_headers: Mapping[str, HTTPHeader] = field(default_factory=dict)


@dataclass(frozen=True)
class StaticConfig:
    targets: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileSDConfig:
    files: tuple[str, ...] = ()  # may hold globs in the last path element
    refresh_interval: float = 300.0
    base_dir: str = ""  # directory of the config file, for relative paths


@dataclass(frozen=True)
class K8sNamespaces:
    own_namespace: bool = False
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class K8sSelector:
    role: str
    label: str = ""
    field: str = ""


@dataclass(frozen=True)
class K8sAttachMetadata:
    node: bool = False
    namespace: bool = False


@dataclass(frozen=True)
class KubernetesSDConfig:
    role: str  # node, pod, service, endpoints, endpointslice (ingress: rejected for now)
    api_server: str = ""
    kubeconfig_file: str = ""
    namespaces: K8sNamespaces = field(default_factory=K8sNamespaces)
    selectors: tuple[K8sSelector, ...] = ()
    attach_metadata: K8sAttachMetadata = field(default_factory=K8sAttachMetadata)
    http_client: HTTPClientConfig = field(default_factory=HTTPClientConfig)


@dataclass(frozen=True)
class ScrapeConfig:
    job_name: str
    scrape_interval: float = 60.0
    scrape_timeout: float = 10.0
    honor_labels: bool = False
    honor_timestamps: bool = True
    track_timestamps_staleness: bool = False
    scrape_protocols: tuple[str, ...] = DEFAULT_SCRAPE_PROTOCOLS
    fallback_scrape_protocol: str = ""
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    enable_compression: bool = True
    body_size_limit: int = 0
    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    target_limit: int = 0
    keep_dropped_targets: int = 0
    metric_name_validation_scheme: str = "utf8"
    relabel_configs: tuple[Rule, ...] = ()
    metric_relabel_configs: tuple[Rule, ...] = ()
    static_configs: tuple[StaticConfig, ...] = ()
    file_sd_configs: tuple[FileSDConfig, ...] = ()
    kubernetes_sd_configs: tuple[KubernetesSDConfig, ...] = ()
    http_client: HTTPClientConfig = field(default_factory=HTTPClientConfig)


@dataclass(frozen=True)
class GlobalConfig:
    scrape_interval: float = 60.0
    scrape_timeout: float = 10.0
    scrape_protocols: tuple[str, ...] = DEFAULT_SCRAPE_PROTOCOLS
    external_labels: Mapping[str, str] = field(default_factory=dict)
    body_size_limit: int = 0
    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    target_limit: int = 0
    keep_dropped_targets: int = 0
    metric_name_validation_scheme: str = "utf8"


@dataclass(frozen=True)
class OTLPTLSConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure: bool = False  # plaintext (no TLS) for gRPC, as OTEL_EXPORTER_OTLP_INSECURE
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class OTLPConfig:
    """``scrape_agent.otlp``; unset fields fall back to ``OTEL_EXPORTER_OTLP_*`` variables."""

    endpoint: str = "http://localhost:4318"
    protocol: str = "http/protobuf"  # or "grpc"
    headers: Mapping[str, str] = field(default_factory=dict)  # values are secrets
    compression: str = "gzip"  # gzip | none
    timeout: float = 10.0
    tls: OTLPTLSConfig = field(default_factory=OTLPTLSConfig)
    # Path the HTTP exporter appends to ``endpoint``: "/v1/metrics", or "" when ``endpoint`` is
    # already the full metrics URL (from OTEL_EXPORTER_OTLP_METRICS_ENDPOINT), and for gRPC.
    signal_path: str = "/v1/metrics"


@dataclass(frozen=True)
class QueueConfig:
    """``scrape_agent.queue``: the durable queue of encoded batches."""

    max_bytes: int = 256 * 1024 * 1024  # bound on queued bytes as stored (gzip), memory + disk
    batch_max_points: int = 8192
    batch_max_bytes: int = 4 * 1024 * 1024
    retry_initial: float = 1.0
    retry_max: float = 30.0
    drain_timeout: float = 10.0


@dataclass(frozen=True)
class NodeLocalConfig:
    """``scrape_agent.node_local``: in a DaemonSet, scrape only what runs on this node."""

    enabled: bool = False
    node_name: str = ""  # defaults to $NODE_NAME


@dataclass(frozen=True)
class AgentSection:
    otlp: OTLPConfig = field(default_factory=OTLPConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    node_local: NodeLocalConfig = field(default_factory=NodeLocalConfig)
    start_time: str = "true_reset_point"  # or "none" (the receiver's current behaviour)
    cluster_name: str = ""  # k8s.cluster.name on every resource
    resource_attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    global_config: GlobalConfig = field(default_factory=GlobalConfig)
    scrape_configs: tuple[ScrapeConfig, ...] = ()
    agent: AgentSection = field(default_factory=AgentSection)
    source_path: str = ""
    # The YAML as loaded (after collector ``$$``/``${env:..}`` handling), for the config page.
    # Use ``agent.config.redacted()`` to show it: it hides secrets.
    raw: Mapping[str, Any] = field(default_factory=dict)
    # Non-fatal remarks from the loader ("file:line: path: ..."), e.g. ignored sections.
    warnings: tuple[str, ...] = ()

    def job(self, name: str) -> ScrapeConfig | None:
        for sc in self.scrape_configs:
            if sc.job_name == name:
                return sc
        return None
