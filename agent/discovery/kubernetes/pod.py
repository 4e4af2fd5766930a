"""``role: pod`` (Prometheus discovery/kubernetes/pod.go): one target per container port."""

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
    meta,
    name_of,
    namespace_meta_labels,
    namespace_of,
    node_meta_labels,
    put,
    spec,
    status,
)
from agent.model import TargetGroup

CONTAINER_NAME = META + "pod_container_name"
CONTAINER_ID = META + "pod_container_id"
CONTAINER_IMAGE = META + "pod_container_image"
CONTAINER_PORT_NAME = META + "pod_container_port_name"
CONTAINER_PORT_NUMBER = META + "pod_container_port_number"
CONTAINER_PORT_PROTOCOL = META + "pod_container_port_protocol"
CONTAINER_INIT = META + "pod_container_init"


def pod_source(namespace: str, name: str) -> str:
    return f"pod/{namespace}/{name}"


def pod_ready(pod: Obj) -> str:
    for cond in status(pod).get("conditions") or ():
        if cond.get("type") == "Ready":
            return str(cond.get("status") or "Unknown").lower()
    return "unknown"


def controller_of(obj: Obj) -> Mapping[str, Any] | None:
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller") is True:
            return ref  # type: ignore[no-any-return]
    return None


def pod_labels(pod: Obj) -> LabelDict:
    """``podLabels``: what every target of a pod carries (also used by endpoints roles)."""
    st, sp = status(pod), spec(pod)
    ls: LabelDict = {}
    put(ls, META + "pod_ip", st.get("podIP"))
    ls[META + "pod_ready"] = pod_ready(pod)
    put(ls, META + "pod_phase", st.get("phase"))
    put(ls, META + "pod_node_name", sp.get("nodeName"))
    put(ls, META + "pod_host_ip", st.get("hostIP"))
    put(ls, META + "pod_uid", meta(pod).get("uid"))
    add_object_meta(ls, pod, "pod")
    ref = controller_of(pod)
    if ref is not None:
        put(ls, META + "pod_controller_kind", ref.get("kind"))
        put(ls, META + "pod_controller_name", ref.get("name"))
    return ls


def all_containers(pod: Obj) -> list[tuple[Mapping[str, Any], bool]]:
    """Containers then init containers, with an ``is_init`` flag (Prometheus' order)."""
    sp = spec(pod)
    out: list[tuple[Mapping[str, Any], bool]] = [(c, False) for c in sp.get("containers") or ()]
    out.extend((c, True) for c in sp.get("initContainers") or ())
    return out


def _container_id(pod: Obj, name: str, is_init: bool) -> str:
    st = status(pod)
    key = "initContainerStatuses" if is_init else "containerStatuses"
    for cs in st.get(key) or ():
        if cs.get("name") == name:
            return str(cs.get("containerID") or "")
    return ""


def build_pod(
    pod: Obj,
    *,
    node: Obj | None = None,
    namespace_obj: Obj | None = None,
) -> TargetGroup:
    """The pod's group. ``node``/``namespace_obj`` are given only with ``attach_metadata``."""
    ns, name = namespace_of(pod), name_of(pod)
    source = pod_source(ns, name)
    pod_ip = str(status(pod).get("podIP") or "")
    # PodIP is empty while a pod starts or once it was evicted: no targets.
    if not pod_ip:
        return TargetGroup(source=source)
    labels = pod_labels(pod)
    put(labels, NAMESPACE_LABEL, ns)
    labels.update(namespace_meta_labels(namespace_obj))
    labels.update(node_meta_labels(node))

    targets: list[LabelDict] = []
    for c, is_init in all_containers(pod):
        cname = str(c.get("name") or "")
        base: LabelDict = {}
        put(base, CONTAINER_NAME, cname)
        put(base, CONTAINER_ID, _container_id(pod, cname, is_init))
        put(base, CONTAINER_IMAGE, c.get("image"))
        base[CONTAINER_INIT] = "true" if is_init else "false"
        ports = c.get("ports") or ()
        if not ports:
            # No declared port: one target with the bare pod IP; users add a port by relabelling.
            targets.append({"__address__": pod_ip, **base})
            continue
        for p in ports:
            number = str(int(p.get("containerPort") or 0))
            t: LabelDict = {"__address__": join_host_port(pod_ip, number), **base}
            put(t, CONTAINER_PORT_NUMBER, number)
            put(t, CONTAINER_PORT_NAME, p.get("name"))
            put(t, CONTAINER_PORT_PROTOCOL, p.get("protocol") or "TCP")
            targets.append(t)
    return TargetGroup(source=source, targets=tuple(targets), labels=labels)
