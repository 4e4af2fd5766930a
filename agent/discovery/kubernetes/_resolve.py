"""How the endpoints roles find the objects an endpoint refers to (pods, services, nodes, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from agent.discovery.kubernetes._labels import Obj


class Resolver(Protocol):
    """Look-ups by key; ``node``/``namespace`` return None unless attach_metadata asks for them."""

    def pod(self, namespace: str, name: str) -> Obj | None: ...

    def service(self, namespace: str, name: str) -> Obj | None: ...

    def node(self, name: str) -> Obj | None: ...

    def namespace(self, name: str) -> Obj | None: ...


class MapResolver:
    """A resolver over plain dicts keyed ``ns/name`` (pods, services) or ``name`` (nodes, ns)."""

    def __init__(
        self,
        pods: Mapping[str, Obj] | None = None,
        services: Mapping[str, Obj] | None = None,
        nodes: Mapping[str, Obj] | None = None,
        namespaces: Mapping[str, Obj] | None = None,
    ) -> None:
        self.pods = pods or {}
        self.services = services or {}
        self.nodes = nodes or {}
        self.namespaces = namespaces or {}

    def pod(self, namespace: str, name: str) -> Obj | None:
        return self.pods.get(f"{namespace}/{name}")

    def service(self, namespace: str, name: str) -> Obj | None:
        return self.services.get(f"{namespace}/{name}")

    def node(self, name: str) -> Obj | None:
        return self.nodes.get(name)

    def namespace(self, name: str) -> Obj | None:
        return self.namespaces.get(name)
