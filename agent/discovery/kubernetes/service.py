"""``role: service`` (Prometheus discovery/kubernetes/service.go): one target per service port."""

from __future__ import annotations

from agent.discovery.kubernetes._labels import (
    META,
    NAMESPACE_LABEL,
    LabelDict,
    Obj,
    add_object_meta,
    join_host_port,
    name_of,
    namespace_meta_labels,
    namespace_of,
    put,
    spec,
    status,
)
from agent.model import TargetGroup


def service_source(namespace: str, name: str) -> str:
    return f"svc/{namespace}/{name}"


def service_labels(svc: Obj) -> LabelDict:
    """``serviceLabels``: namespace, name, labels/annotations (also used by endpoints roles)."""
    ls: LabelDict = {}
    add_object_meta(ls, svc, "service")
    put(ls, NAMESPACE_LABEL, namespace_of(svc))
    return ls


def _load_balancer_ip(svc: Obj) -> str:
    lb = status(svc).get("loadBalancer") or {}
    ips = [str(i.get("ip")) for i in lb.get("ingress") or () if i.get("ip")]
    if ips:
        return ",".join(ips)
    return str(spec(svc).get("loadBalancerIP") or "")


def build_service(svc: Obj, *, namespace_obj: Obj | None = None) -> TargetGroup:
    ns, name = namespace_of(svc), name_of(svc)
    sp = spec(svc)
    svc_type = str(sp.get("type") or "ClusterIP")
    labels = service_labels(svc)
    labels.update(namespace_meta_labels(namespace_obj))
    targets: list[LabelDict] = []
    for port in sp.get("ports") or ():
        number = str(int(port.get("port") or 0))
        t: LabelDict = {"__address__": join_host_port(f"{name}.{ns}.svc", number)}
        put(t, META + "service_port_name", port.get("name"))
        put(t, META + "service_port_number", number)
        put(t, META + "service_port_protocol", port.get("protocol") or "TCP")
        put(t, META + "service_type", svc_type)
        if svc_type == "ExternalName":
            put(t, META + "service_external_name", sp.get("externalName"))
        else:
            put(t, META + "service_cluster_ip", sp.get("clusterIP"))
        if svc_type == "LoadBalancer":
            put(t, META + "service_loadbalancer_ip", _load_balancer_ip(svc))
        targets.append(t)
    return TargetGroup(source=service_source(ns, name), targets=tuple(targets), labels=labels)
