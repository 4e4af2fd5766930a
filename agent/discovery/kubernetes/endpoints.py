"""``role: endpoints`` (Prometheus discovery/kubernetes/endpoints.go).

One target per address x port of each subset (ready and not-ready addresses), enriched with the
service's and the backing pod's labels, plus one target per container port of a backing pod that
no endpoint port covers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.discovery.kubernetes._labels import (
    META,
    NAMESPACE_LABEL,
    LabelDict,
    Obj,
    add_object_meta,
    join_host_port,
    key_of,
    name_of,
    namespace_meta_labels,
    namespace_of,
    node_meta_labels,
    put,
    status,
)
from agent.discovery.kubernetes._resolve import Resolver
from agent.discovery.kubernetes.pod import (
    CONTAINER_IMAGE,
    CONTAINER_INIT,
    CONTAINER_NAME,
    CONTAINER_PORT_NAME,
    CONTAINER_PORT_NUMBER,
    CONTAINER_PORT_PROTOCOL,
    all_containers,
    pod_labels,
)
from agent.discovery.kubernetes.service import service_labels
from agent.model import TargetGroup


def endpoints_source(namespace: str, name: str) -> str:
    return f"endpoints/{namespace}/{name}"


def match_container_port(target: LabelDict, pod: Obj, port: int, protocol: str | None) -> None:
    """Attach the labels of the container port equal to ``port`` (the last container wins,
    as in Prometheus' loop, which only breaks out of the inner port loop)."""
    for c, is_init in all_containers(pod):
        for cport in c.get("ports") or ():
            if int(cport.get("containerPort") or 0) == port:
                put(target, CONTAINER_NAME, c.get("name"))
                put(target, CONTAINER_IMAGE, c.get("image"))
                put(target, CONTAINER_PORT_NAME, cport.get("name"))
                put(target, CONTAINER_PORT_NUMBER, str(port))
                put(target, CONTAINER_PORT_PROTOCOL, protocol or cport.get("protocol") or "TCP")
                target[CONTAINER_INIT] = "true" if is_init else "false"
                break


def unbound_pod_targets(pod: Obj, seen_ports: set[int]) -> list[LabelDict]:
    """Targets for a backing pod's container ports that no endpoint port covered."""
    pod_ip = str(status(pod).get("podIP") or "")
    if not pod_ip:
        return []
    out: list[LabelDict] = []
    plabels = pod_labels(pod)
    for c, is_init in all_containers(pod):
        for cport in c.get("ports") or ():
            number = int(cport.get("containerPort") or 0)
            if number in seen_ports:
                continue
            t: LabelDict = {"__address__": join_host_port(pod_ip, number)}
            put(t, CONTAINER_NAME, c.get("name"))
            put(t, CONTAINER_IMAGE, c.get("image"))
            put(t, CONTAINER_PORT_NAME, cport.get("name"))
            put(t, CONTAINER_PORT_NUMBER, str(number))
            put(t, CONTAINER_PORT_PROTOCOL, cport.get("protocol") or "TCP")
            t[CONTAINER_INIT] = "true" if is_init else "false"
            t.update(plabels)
            out.append(t)
    return out


def resolve_pod(resolver: Resolver, ref: Mapping[str, Any] | None, default_ns: str) -> Obj | None:
    if not ref or ref.get("kind") != "Pod":
        return None
    return resolver.pod(str(ref.get("namespace") or default_ns), str(ref.get("name") or ""))


def build_endpoints(eps: Obj, resolver: Resolver) -> TargetGroup:
    ns, name = namespace_of(eps), name_of(eps)
    labels: LabelDict = {}
    put(labels, NAMESPACE_LABEL, ns)
    add_object_meta(labels, eps, "endpoints")
    svc = resolver.service(ns, name)
    if svc is not None:
        labels.update(service_labels(svc))
    labels.update(namespace_meta_labels(resolver.namespace(ns)))

    targets: list[LabelDict] = []
    seen: dict[str, tuple[Obj, set[int]]] = {}

    def add(addr: Mapping[str, Any], port: Mapping[str, Any], ready: str) -> None:
        number = int(port.get("port") or 0)
        protocol = str(port.get("protocol") or "TCP")
        t: LabelDict = {"__address__": join_host_port(str(addr.get("ip") or ""), number)}
        put(t, META + "endpoint_port_name", port.get("name"))
        put(t, META + "endpoint_port_protocol", protocol)
        t[META + "endpoint_ready"] = ready
        ref = addr.get("targetRef")
        if ref:
            put(t, META + "endpoint_address_target_kind", ref.get("kind"))
            put(t, META + "endpoint_address_target_name", ref.get("name"))
        node_name = addr.get("nodeName")
        put(t, META + "endpoint_node_name", node_name)
        put(t, META + "endpoint_hostname", addr.get("hostname"))
        if node_name:
            t.update(node_meta_labels(resolver.node(str(node_name))))
        elif ref and ref.get("kind") == "Node":
            t.update(node_meta_labels(resolver.node(str(ref.get("name") or ""))))
        pod = resolve_pod(resolver, ref, ns)
        if pod is None:
            targets.append(t)
            return
        entry = seen.setdefault(key_of(pod), (pod, set()))
        t.update(pod_labels(pod))
        match_container_port(t, pod, number, protocol)
        entry[1].add(number)
        targets.append(t)

    for subset in eps.get("subsets") or ():
        for port in subset.get("ports") or ():
            for addr in subset.get("addresses") or ():
                add(addr, port, "true")
            for addr in subset.get("notReadyAddresses") or ():
                add(addr, port, "false")

    for pod, ports in seen.values():
        targets.extend(unbound_pod_targets(pod, ports))
    return TargetGroup(source=endpoints_source(ns, name), targets=tuple(targets), labels=labels)
