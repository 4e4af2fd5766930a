"""``role: endpointslice`` (Prometheus discovery/kubernetes/endpointslice.go, discovery.k8s.io/v1).

One target per endpoint address x slice port, enriched with the service's and the backing pod's
labels, plus targets for container ports of backing pods that no slice port covers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.discovery.kubernetes._labels import (
    META,
    NAMESPACE_LABEL,
    PRESENT,
    LabelDict,
    Obj,
    add_object_meta,
    join_host_port,
    key_of,
    meta,
    name_of,
    namespace_meta_labels,
    namespace_of,
    node_meta_labels,
    put,
    sanitize,
    spec,
)
from agent.discovery.kubernetes._resolve import Resolver
from agent.discovery.kubernetes.endpoints import (
    match_container_port,
    resolve_pod,
    unbound_pod_targets,
)
from agent.discovery.kubernetes.pod import pod_labels
from agent.discovery.kubernetes.service import service_labels
from agent.model import TargetGroup

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
P = META + "endpointslice_"


def endpointslice_source(namespace: str, name: str) -> str:
    return f"endpointslice/{namespace}/{name}"


def _bool(v: object) -> str | None:
    if v is None:
        return None
    return "true" if v else "false"


def service_of(eps: Obj) -> str:
    return str((meta(eps).get("labels") or {}).get(SERVICE_NAME_LABEL) or "")


def non_primary_ip_family(eps: Obj, svc: Obj | None) -> bool:
    """A dual-stack service has one slice per IP family; only the primary family is used."""
    if svc is None:
        return False
    families = list(spec(svc).get("ipFamilies") or [])
    return len(families) >= 2 and str(families[0]) != str(eps.get("addressType") or "")


def build_endpointslice(eps: Obj, resolver: Resolver) -> TargetGroup:
    ns, name = namespace_of(eps), name_of(eps)
    source = endpointslice_source(ns, name)
    labels: LabelDict = {}
    put(labels, NAMESPACE_LABEL, ns)
    put(labels, P + "address_type", eps.get("addressType"))
    add_object_meta(labels, eps, "endpointslice")
    svc_name = service_of(eps)
    svc = resolver.service(ns, svc_name) if svc_name else None
    if svc is not None:
        labels.update(service_labels(svc))
    labels.update(namespace_meta_labels(resolver.namespace(ns)))
    if non_primary_ip_family(eps, svc):
        return TargetGroup(source=source, labels=labels)

    targets: list[LabelDict] = []
    seen: dict[str, tuple[Obj, set[int]]] = {}

    def add(addr: str, ep: Mapping[str, Any], port: Mapping[str, Any]) -> None:
        number = port.get("port")
        t: LabelDict = {
            "__address__": join_host_port(addr, int(number)) if number is not None else addr
        }
        put(t, P + "port_name", port.get("name"))
        put(t, P + "port_protocol", port.get("protocol"))
        if number is not None:
            t[P + "port"] = str(int(number))
        put(t, P + "port_app_protocol", port.get("appProtocol"))
        cond = ep.get("conditions") or {}
        put(t, P + "endpoint_conditions_ready", _bool(cond.get("ready")))
        put(t, P + "endpoint_conditions_serving", _bool(cond.get("serving")))
        put(t, P + "endpoint_conditions_terminating", _bool(cond.get("terminating")))
        put(t, P + "endpoint_hostname", ep.get("hostname"))
        ref = ep.get("targetRef")
        if ref:
            put(t, P + "address_target_kind", ref.get("kind"))
            put(t, P + "address_target_name", ref.get("name"))
        put(t, P + "endpoint_node_name", ep.get("nodeName"))
        put(t, P + "endpoint_zone", ep.get("zone"))
        for k, v in (ep.get("deprecatedTopology") or {}).items():
            ln = sanitize(str(k))
            put(t, P + "endpoint_topology_" + ln, v)
            t[P + "endpoint_topology_present_" + ln] = PRESENT
        if ref and ref.get("kind") == "Node":
            t.update(node_meta_labels(resolver.node(str(ref.get("name") or ""))))
        elif ep.get("nodeName"):
            t.update(node_meta_labels(resolver.node(str(ep.get("nodeName")))))
        pod = resolve_pod(resolver, ref, ns)
        if pod is None:
            targets.append(t)
            return
        entry = seen.setdefault(key_of(pod), (pod, set()))
        t.update(pod_labels(pod))
        if number is not None:
            match_container_port(t, pod, int(number), None)
            entry[1].add(int(number))
        targets.append(t)

    for ep in eps.get("endpoints") or ():
        for port in eps.get("ports") or ():
            for addr in ep.get("addresses") or ():
                add(str(addr), ep, port)

    for pod, ports in seen.values():
        targets.extend(unbound_pod_targets(pod, ports))
    return TargetGroup(source=source, targets=tuple(targets), labels=labels)
