"""``role: node`` (Prometheus discovery/kubernetes/node.go): one target per node, the kubelet."""

from __future__ import annotations

from agent.discovery.kubernetes._labels import (
    META,
    LabelDict,
    Obj,
    add_object_meta,
    join_host_port,
    name_of,
    put,
    sanitize,
    spec,
    status,
)
from agent.model import TargetGroup

# Prometheus' order (node.go nodeAddress, derived from the kubelet's own preference).
ADDRESS_PREFERENCE = (
    "InternalIP",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
    "LegacyHostIP",
    "Hostname",
)


def node_source(name: str) -> str:
    return "node/" + name


def node_labels(node: Obj) -> LabelDict:
    """Group labels: name, provider id, labels/annotations, conditions (lower-cased)."""
    ls: LabelDict = {}
    put(ls, META + "node_provider_id", spec(node).get("providerID"))
    add_object_meta(ls, node, "node")
    for cond in status(node).get("conditions") or ():
        ctype = str(cond.get("type") or "")
        if not ctype:
            continue
        put(
            ls,
            META + "node_condition_" + sanitize(ctype.lower()),
            str(cond.get("status") or "Unknown").lower(),
        )
    return ls


def node_address(node: Obj) -> tuple[str, dict[str, str]]:
    """The preferred address and the first address of each type ("" when none)."""
    first: dict[str, str] = {}
    for a in status(node).get("addresses") or ():
        t, addr = str(a.get("type") or ""), str(a.get("address") or "")
        if t and t not in first:
            first[t] = addr
    for t in ADDRESS_PREFERENCE:
        if t in first:
            return first[t], first
    return "", first


def kubelet_port(node: Obj) -> int:
    de = status(node).get("daemonEndpoints") or {}
    ke = de.get("kubeletEndpoint") or {}
    return int(ke.get("Port") or ke.get("port") or 0)


def build_node(node: Obj) -> TargetGroup:
    """The node's group; no targets when the node has no address (Prometheus logs and skips)."""
    name = name_of(node)
    addr, addresses = node_address(node)
    if not addr:
        return TargetGroup(source=node_source(name))
    target: LabelDict = {
        "__address__": join_host_port(addr, kubelet_port(node)),
        "instance": name,
    }
    for t, a in addresses.items():
        put(target, sanitize(META + "node_address_" + t), a)
    return TargetGroup(source=node_source(name), targets=(target,), labels=node_labels(node))
