"""``KubernetesDiscoverer``: one per ``kubernetes_sd_configs`` entry.

It lists and watches what the role needs (one ``ListWatcher`` thread per resource and namespace),
keeps the objects in memory, rebuilds the groups whose inputs changed and sends only the groups
that differ from what it sent before. A relist (after 410 Gone) replaces the object set and goes
through the same diff, so unchanged targets never flap.

Node-local mode (``node_name`` set, a DaemonSet): pods are watched with
``spec.nodeName=<node>``, nodes with ``metadata.name=<node>``, and endpoints/endpointslice
targets are kept only when their pod or endpoint node is this node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.config import KubernetesSDConfig
from agent.discovery import SendGroups
from agent.discovery.kubernetes._labels import META, Obj, key_of, spec
from agent.discovery.kubernetes._slim import slim
from agent.discovery.kubernetes.client import K8sClient, K8sConfigError, ListWatcher
from agent.discovery.kubernetes.endpoints import build_endpoints
from agent.discovery.kubernetes.endpointslice import build_endpointslice
from agent.discovery.kubernetes.node import build_node
from agent.discovery.kubernetes.pod import build_pod
from agent.discovery.kubernetes.service import build_service
from agent.model import TargetGroup

log = logging.getLogger("agent.discovery.kubernetes")

ROLES = ("node", "pod", "service", "endpoints", "endpointslice")
PRIMARY = {
    "node": "nodes",
    "pod": "pods",
    "service": "services",
    "endpoints": "endpoints",
    "endpointslice": "endpointslices",
}
# selector role -> resource it filters
SELECTOR_RESOURCE = {
    "node": "nodes",
    "pod": "pods",
    "service": "services",
    "endpoints": "endpoints",
    "endpointslice": "endpointslices",
}
NODE_NAME_LABELS = (
    META + "pod_node_name",
    META + "endpoint_node_name",
    META + "endpointslice_endpoint_node_name",
)


@dataclass(frozen=True)
class WatchSpec:
    resource: str
    namespace: str  # "" = all namespaces (or cluster-scoped)
    label: str
    field: str


def _and(*selectors: str) -> str:
    return ",".join(s for s in selectors if s)


class _TrackingResolver:
    """Resolver over the discoverer's stores that records every key it was asked for."""

    def __init__(self, d: KubernetesDiscoverer) -> None:
        self.d = d
        self.deps: set[str] = set()

    def pod(self, namespace: str, name: str) -> Obj | None:
        key = f"{namespace}/{name}"
        self.deps.add("pods/" + key)
        return self.d.stores["pods"].get(key)

    def service(self, namespace: str, name: str) -> Obj | None:
        key = f"{namespace}/{name}"
        self.deps.add("services/" + key)
        return self.d.stores["services"].get(key)

    def node(self, name: str) -> Obj | None:
        if not self.d.cfg.attach_metadata.node:
            return None
        self.deps.add("nodes/" + name)
        return self.d.stores["nodes"].get(name)

    def namespace(self, name: str) -> Obj | None:
        if not self.d.cfg.attach_metadata.namespace:
            return None
        self.deps.add("namespaces/" + name)
        return self.d.stores["namespaces"].get(name)


class KubernetesDiscoverer:
    """``agent.discovery.Discoverer`` for one ``kubernetes_sd_configs`` entry."""

    def __init__(
        self,
        cfg: KubernetesSDConfig,
        *,
        node_name: str | None = None,
        job: str = "",
        client_factory: Callable[[KubernetesSDConfig], K8sClient] | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        if cfg.role not in ROLES:
            raise ValueError(
                f"kubernetes_sd_configs: role {cfg.role!r} is not supported "
                f"(one of: {', '.join(ROLES)})"
            )
        self.cfg = cfg
        self.node_name = node_name or None
        self.job = job
        self.role = cfg.role
        self.primary = PRIMARY[cfg.role]
        self._client_factory = client_factory or K8sClient
        self._backoff = (backoff_initial, backoff_max)
        self.stores: dict[str, dict[str, Obj]] = {
            r: {}
            for r in ("pods", "services", "endpoints", "endpointslices", "nodes", "namespaces")
        }
        self._owned: dict[WatchSpec, set[str]] = {}
        self._synced: set[WatchSpec] = set()
        self._dirty: set[str] = set()  # primary keys to rebuild
        self._deps: dict[str, set[str]] = {}  # "resource/key" -> primary keys that read it
        self._deps_of: dict[str, set[str]] = {}  # primary key -> its dep keys
        self._sent: dict[str, TargetGroup] = {}  # source -> last group sent
        self._source_of: dict[str, str] = {}  # primary key -> source
        self._wake: asyncio.Event | None = None
        self.watchers: list[ListWatcher] = []
        self.specs: list[WatchSpec] = []
        self.config_error = ""  # set when the client can't be configured (not retried)

    # ---- planning

    def _selector(self, resource: str) -> tuple[str, str]:
        for s in self.cfg.selectors:
            if SELECTOR_RESOURCE.get(s.role) == resource:
                return s.label, s.field
        return "", ""

    def _namespaces(self, client: K8sClient) -> list[str]:
        ns = self.cfg.namespaces
        names = list(dict.fromkeys(ns.names))
        if ns.own_namespace:
            own = client.own_namespace()
            if own not in names:
                names.append(own)
        return names or [""]

    def plan(self, namespaces: list[str]) -> list[WatchSpec]:
        """The list/watches this role needs: one per (resource, namespace)."""
        role, node = self.role, self.node_name
        resources: list[str] = [self.primary]
        if role in ("endpoints", "endpointslice"):
            resources += ["services", "pods"]
        if self.cfg.attach_metadata.node and role in ("pod", "endpoints", "endpointslice"):
            resources.append("nodes")
        if self.cfg.attach_metadata.namespace and role != "node":
            resources.append("namespaces")
        specs: list[WatchSpec] = []
        for res in resources:
            label, field = self._selector(res)
            if node and res == "pods":
                field = _and(field, f"spec.nodeName={node}")
            if node and res == "nodes":
                field = _and(field, f"metadata.name={node}")
            if res in ("nodes", "namespaces"):
                specs.append(WatchSpec(res, "", label, field))
            else:
                specs.extend(WatchSpec(res, ns, label, field) for ns in namespaces)
        return specs

    # ---- store updates (run on the event loop)

    def _mark(self, resource: str, key: str) -> None:
        if resource == self.primary:
            self._dirty.add(key)
        for primary in self._deps.get(f"{resource}/{key}", ()):
            self._dirty.add(primary)

    def _on_sync(self, ws: WatchSpec, items: list[dict[str, Any]]) -> None:
        """A (re)list of ``ws`` (objects already slimmed): replace what it owned, diff."""
        store = self.stores[ws.resource]
        owned = self._owned.setdefault(ws, set())
        new: dict[str, Obj] = {key_of(o): o for o in items}
        for key in owned - new.keys():
            store.pop(key, None)
            self._mark(ws.resource, key)
        for key, obj in new.items():
            old = store.get(key)
            store[key] = obj
            if old is None or old != obj:
                self._mark(ws.resource, key)
        self._owned[ws] = set(new)
        self._synced.add(ws)
        self._kick()

    def _on_event(self, ws: WatchSpec, etype: str, obj: dict[str, Any]) -> None:
        store = self.stores[ws.resource]
        key = key_of(obj)
        owned = self._owned.setdefault(ws, set())
        if etype == "DELETED":
            store.pop(key, None)
            owned.discard(key)
        else:
            if store.get(key) == obj:
                return  # nothing discovery reads changed (e.g. a node heartbeat)
            store[key] = obj
            owned.add(key)
        self._mark(ws.resource, key)
        self._kick()

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # ---- building

    def _on_this_node(self, obj: Obj) -> bool:
        if self.role == "node":
            return key_of(obj) == self.node_name
        if self.role == "pod":
            return spec(obj).get("nodeName") == self.node_name
        return True

    def _local_targets(self, group: TargetGroup) -> TargetGroup:
        """Node-local mode for endpoints roles: keep the targets on this node only."""
        if self.node_name is None or self.role not in ("endpoints", "endpointslice"):
            return group
        keep = []
        for t in group.targets:
            nodes = {t.get(n) or group.labels.get(n) for n in NODE_NAME_LABELS} - {None, ""}
            kind = t.get(META + "endpoint_address_target_kind") or t.get(
                META + "endpointslice_address_target_kind"
            )
            if kind == "Node":
                nodes.add(
                    t.get(META + "endpoint_address_target_name")
                    or t.get(META + "endpointslice_address_target_name")
                )
            if self.node_name in nodes:
                keep.append(t)
        if len(keep) == len(group.targets):
            return group
        return TargetGroup(source=group.source, targets=tuple(keep), labels=group.labels)

    def _build(self, key: str) -> TargetGroup | None:
        obj = self.stores[self.primary].get(key)
        if obj is None:
            return None
        if self.node_name is not None and not self._on_this_node(obj):
            return None
        r = _TrackingResolver(self)
        if self.role == "node":
            g = build_node(obj)
        elif self.role == "pod":
            g = build_pod(
                obj,
                node=r.node(str(spec(obj).get("nodeName") or "")),
                namespace_obj=r.namespace(key.split("/", 1)[0]),
            )
        elif self.role == "service":
            g = build_service(obj, namespace_obj=r.namespace(key.split("/", 1)[0]))
        elif self.role == "endpoints":
            g = build_endpoints(obj, r)
        else:
            g = build_endpointslice(obj, r)
        self._set_deps(key, r.deps)
        return self._local_targets(g)

    def _set_deps(self, key: str, deps: set[str]) -> None:
        for d in self._deps_of.get(key, ()):
            s = self._deps.get(d)
            if s is not None:
                s.discard(key)
                if not s:
                    del self._deps[d]
        if deps:
            self._deps_of[key] = deps
            for d in deps:
                self._deps.setdefault(d, set()).add(key)
        else:
            self._deps_of.pop(key, None)

    def _flush(self, *, full: bool = False) -> list[TargetGroup]:
        keys = set(self.stores[self.primary]) | set(self._source_of) if full else self._dirty
        self._dirty = set()
        out: list[TargetGroup] = []
        for key in sorted(keys):
            g = self._build(key)
            if g is None:
                self._set_deps(key, set())
                source = self._source_of.pop(key, None)
                if source is not None and self._sent.pop(source, None) is not None:
                    out.append(TargetGroup(source=source))
                continue
            self._source_of[key] = g.source
            if full or self._sent.get(g.source) != g:
                out.append(g)
            self._sent[g.source] = g
        return out

    # ---- run

    def initial_synced(self) -> bool:
        return bool(self.specs) and all(s in self._synced for s in self.specs)

    @property
    def last_error(self) -> str:
        if self.config_error:
            return self.config_error
        errs = [w.last_error for w in self.watchers if w.last_error]
        return errs[0] if errs else ""

    async def run(self, send: SendGroups) -> None:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            client = await asyncio.to_thread(self._client_factory, self.cfg)
        except K8sConfigError as e:
            await self._config_failed(send, str(e))
            return
        try:
            try:
                namespaces = await asyncio.to_thread(self._namespaces, client)
            except K8sConfigError as e:
                await self._config_failed(send, str(e))
                return
            self.specs = self.plan(namespaces)
            if self.node_name is not None and self.role == "service":
                log.warning(
                    "job %s: kubernetes_sd_configs role service is not node-local: every agent "
                    "discovers every service (see docs/KUBERNETES.md)",
                    self.job or "?",
                )
            for ws in self.specs:
                # These run on the watcher thread: objects are slimmed there, off the loop.
                def on_sync(items: list[dict[str, Any]], ws: WatchSpec = ws) -> None:
                    slimmed = [slim(ws.resource, o) for o in items]
                    loop.call_soon_threadsafe(self._on_sync, ws, slimmed)

                def on_event(etype: str, obj: dict[str, Any], ws: WatchSpec = ws) -> None:
                    loop.call_soon_threadsafe(self._on_event, ws, etype, slim(ws.resource, obj))

                w = ListWatcher(
                    client,
                    ws.resource,
                    ws.namespace,
                    ws.label,
                    ws.field,
                    on_sync,
                    on_event,
                    name=f"{self.job or '-'}/{ws.resource}/{ws.namespace or '*'}",
                    backoff_initial=self._backoff[0],
                    backoff_max=self._backoff[1],
                )
                self.watchers.append(w)
                w.start()
            while not self.initial_synced():
                await self._wake.wait()
                self._wake.clear()
            send(self._flush(full=True))
            while True:
                await self._wake.wait()
                self._wake.clear()
                changed = self._flush()
                if changed:
                    send(changed)
        finally:
            for w in self.watchers:
                w.stop()
            await asyncio.to_thread(self._join_and_close, client)

    async def _config_failed(self, send: SendGroups, message: str) -> None:
        """A configuration problem no retry can fix: say so once, send nothing, idle."""
        self.config_error = f"job {self.job or '?'}: {message}"
        log.error("kubernetes discovery: %s", self.config_error)
        send([])
        await asyncio.Event().wait()  # until cancelled

    def _join_and_close(self, client: K8sClient) -> None:
        for w in self.watchers:
            w.join(timeout=5)
        client.close()
