"""Keep only the fields the builders read, before an object goes into the discoverer's store.

A pod as the API returns it is mostly volumes, env, probes, ``managedFields`` and status
timestamps; none of it matters to discovery. Slimming bounds memory per object, and because
``resourceVersion`` and heartbeat timestamps are dropped too, an update that changes nothing
discovery reads (a node heartbeat, a pod's probe status) compares equal and costs no rebuild.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Obj = dict[str, Any]

_META_KEYS = ("name", "namespace", "uid", "labels", "annotations")


def _pick(m: Any, keys: Sequence[str]) -> Obj:
    if not isinstance(m, Mapping):
        return {}
    return {k: m[k] for k in keys if k in m and m[k] is not None}


def _list(v: Any, keys: Sequence[str]) -> list[Obj]:
    if not isinstance(v, Sequence) or isinstance(v, str):
        return []
    return [_pick(x, keys) for x in v]


def _meta(o: Mapping[str, Any]) -> Obj:
    md = o.get("metadata") or {}
    out = _pick(md, _META_KEYS)
    refs = [r for r in md.get("ownerReferences") or () if r.get("controller") is True]
    if refs:
        out["ownerReferences"] = _list(refs[:1], ("kind", "name", "controller"))
    return out


def _containers(v: Any) -> list[Obj]:
    out = []
    for c in v or ():
        s = _pick(c, ("name", "image"))
        if c.get("ports"):
            s["ports"] = _list(c["ports"], ("name", "containerPort", "protocol"))
        out.append(s)
    return out


def slim(resource: str, o: Mapping[str, Any]) -> Obj:
    out: Obj = {"metadata": _meta(o)}
    spec = o.get("spec") or {}
    status = o.get("status") or {}
    if resource == "pods":
        out["spec"] = {
            "nodeName": spec.get("nodeName"),
            "containers": _containers(spec.get("containers")),
            "initContainers": _containers(spec.get("initContainers")),
        }
        st = _pick(status, ("podIP", "hostIP", "phase"))
        st["conditions"] = _list(
            [c for c in status.get("conditions") or () if c.get("type") == "Ready"],
            ("type", "status"),
        )
        for key in ("containerStatuses", "initContainerStatuses"):
            st[key] = _list(status.get(key), ("name", "containerID"))
        out["status"] = st
    elif resource == "nodes":
        out["spec"] = _pick(spec, ("providerID",))
        out["status"] = {
            "addresses": _list(status.get("addresses"), ("type", "address")),
            "conditions": _list(status.get("conditions"), ("type", "status")),
            "daemonEndpoints": status.get("daemonEndpoints") or {},
        }
    elif resource == "services":
        s = _pick(spec, ("type", "clusterIP", "externalName", "loadBalancerIP", "ipFamilies"))
        s["ports"] = _list(spec.get("ports"), ("name", "port", "protocol"))
        out["spec"] = s
        lb = (status.get("loadBalancer") or {}).get("ingress")
        if lb:
            out["status"] = {"loadBalancer": {"ingress": _list(lb, ("ip",))}}
    elif resource == "endpoints":
        addr_keys = ("ip", "hostname", "nodeName", "targetRef")
        out["subsets"] = [
            {
                "addresses": _list(ss.get("addresses"), addr_keys),
                "notReadyAddresses": _list(ss.get("notReadyAddresses"), addr_keys),
                "ports": _list(ss.get("ports"), ("name", "port", "protocol")),
            }
            for ss in o.get("subsets") or ()
        ]
    elif resource == "endpointslices":
        out["addressType"] = o.get("addressType")
        out["endpoints"] = _list(
            o.get("endpoints"),
            (
                "addresses",
                "conditions",
                "hostname",
                "targetRef",
                "nodeName",
                "zone",
                "deprecatedTopology",
            ),
        )
        out["ports"] = _list(o.get("ports"), ("name", "port", "protocol", "appProtocol"))
    return out
