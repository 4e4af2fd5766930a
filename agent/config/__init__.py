"""Load and validate the user's scrape YAML (Prometheus' or the collector's form).

Public API::

    from agent.config import load, loads, ConfigError
    cfg = load("prometheus.yml")        # -> Config, or raises ConfigError listing every problem
    cfg = loads(text, source="x.yml", env={"NODE_NAME": "n1"})   # env replaces os.environ
    redacted(cfg)                       # the loaded YAML with secrets replaced by "<secret>"
    cfg.warnings                        # ignored sections / options, as "file:line: path: ..."
"""

from __future__ import annotations

from agent.config._load import ConfigError, load, loads, redacted
from agent.config._types import (
    DEFAULT_SCRAPE_PROTOCOLS,
    AgentSection,
    Authorization,
    BasicAuth,
    Config,
    FileSDConfig,
    GlobalConfig,
    HTTPClientConfig,
    HTTPHeader,
    K8sAttachMetadata,
    K8sNamespaces,
    K8sSelector,
    KubernetesSDConfig,
    NodeLocalConfig,
    OTLPConfig,
    OTLPTLSConfig,
    QueueConfig,
    ScrapeConfig,
    StaticConfig,
    TLSConfig,
)

__all__ = [
    "ConfigError",
    "load",
    "loads",
    "redacted",
    "DEFAULT_SCRAPE_PROTOCOLS",
    "AgentSection",
    "Authorization",
    "BasicAuth",
    "Config",
    "FileSDConfig",
    "GlobalConfig",
    "HTTPClientConfig",
    "HTTPHeader",
    "K8sAttachMetadata",
    "K8sNamespaces",
    "K8sSelector",
    "KubernetesSDConfig",
    "NodeLocalConfig",
    "OTLPConfig",
    "OTLPTLSConfig",
    "QueueConfig",
    "ScrapeConfig",
    "StaticConfig",
    "TLSConfig",
]
