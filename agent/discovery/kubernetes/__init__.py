"""Kubernetes service discovery (``kubernetes_sd_configs``), as Prometheus' discovery/kubernetes.

Public API::

    from agent.discovery.kubernetes import KubernetesDiscoverer
    d = KubernetesDiscoverer(cfg, node_name="node-a", job="pods")   # node_name: DaemonSet mode
    await d.run(send)

The pure builders (``build_node``, ``build_pod``, ``build_service``, ``build_endpoints``,
``build_endpointslice``) turn API objects (JSON dicts) into ``TargetGroup`` values with every
``__meta_kubernetes_*`` label Prometheus produces.
"""

from __future__ import annotations

from agent.discovery.kubernetes._resolve import MapResolver, Resolver
from agent.discovery.kubernetes.client import K8sClient, K8sConfigError, ListWatcher
from agent.discovery.kubernetes.discoverer import KubernetesDiscoverer, WatchSpec
from agent.discovery.kubernetes.endpoints import build_endpoints
from agent.discovery.kubernetes.endpointslice import build_endpointslice
from agent.discovery.kubernetes.node import build_node
from agent.discovery.kubernetes.pod import build_pod
from agent.discovery.kubernetes.service import build_service

__all__ = [
    "K8sClient",
    "K8sConfigError",
    "KubernetesDiscoverer",
    "ListWatcher",
    "MapResolver",
    "Resolver",
    "WatchSpec",
    "build_endpoints",
    "build_endpointslice",
    "build_node",
    "build_pod",
    "build_service",
]
