"""Label helpers shared by the role builders (Prometheus' discovery/kubernetes/kubernetes.go).

Objects are plain dicts as the API server returns them (JSON, camelCase keys). Builders only
read the handful of fields Prometheus reads, with ``.get`` and defaults, so partial objects
(as in tests) work too.

Label values that are empty are dropped from the output: in Prometheus an empty label value is
the same as an absent label, and ``TargetGroup`` consumers treat them alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

META = "__meta_kubernetes_"
NAMESPACE_LABEL = META + "namespace"
PRESENT = "true"

Obj = Mapping[str, Any]
LabelDict = dict[str, str]

_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def sanitize(name: str) -> str:
    """``strutil.SanitizeLabelName``: every char outside ``[a-zA-Z0-9_]`` becomes ``_``."""
    return _INVALID.sub("_", name)


def meta(obj: Obj) -> Obj:
    m = obj.get("metadata")
    return m if isinstance(m, Mapping) else {}


def spec(obj: Obj) -> Obj:
    s = obj.get("spec")
    return s if isinstance(s, Mapping) else {}


def status(obj: Obj) -> Obj:
    s = obj.get("status")
    return s if isinstance(s, Mapping) else {}


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name") or "")


def namespace_of(obj: Obj) -> str:
    return str(meta(obj).get("namespace") or "")


def key_of(obj: Obj) -> str:
    """Store key as client-go's ``MetaNamespaceKeyFunc``: ``ns/name`` or ``name``."""
    ns = namespace_of(obj)
    return f"{ns}/{name_of(obj)}" if ns else name_of(obj)


def put(ls: LabelDict, name: str, value: object) -> None:
    """Set a label; empty values are dropped (empty == absent)."""
    if value is None:
        return
    v = str(value)
    if v:
        ls[name] = v
    else:
        ls.pop(name, None)


def add_object_meta(ls: LabelDict, obj: Obj, role: str) -> None:
    """``addObjectMetaLabels``: ``<role>_name``, labels and annotations with ``…present_…``."""
    m = meta(obj)
    prefix = META + role
    put(ls, prefix + "_name", m.get("name"))
    for k, v in (m.get("labels") or {}).items():
        ln = sanitize(str(k))
        put(ls, f"{prefix}_label_{ln}", v)
        ls[f"{prefix}_labelpresent_{ln}"] = PRESENT
    for k, v in (m.get("annotations") or {}).items():
        ln = sanitize(str(k))
        put(ls, f"{prefix}_annotation_{ln}", v)
        ls[f"{prefix}_annotationpresent_{ln}"] = PRESENT


def namespace_meta_labels(ns_obj: Obj | None) -> LabelDict:
    """``attach_metadata.namespace``: namespace labels/annotations (no ``_name``)."""
    ls: LabelDict = {}
    if ns_obj is None:
        return ls
    m = meta(ns_obj)
    for k, v in (m.get("labels") or {}).items():
        ln = sanitize(str(k))
        put(ls, f"{META}namespace_label_{ln}", v)
        ls[f"{META}namespace_labelpresent_{ln}"] = PRESENT
    for k, v in (m.get("annotations") or {}).items():
        ln = sanitize(str(k))
        put(ls, f"{META}namespace_annotation_{ln}", v)
        ls[f"{META}namespace_annotationpresent_{ln}"] = PRESENT
    return ls


def node_meta_labels(node: Obj | None) -> LabelDict:
    """``attach_metadata.node`` (``addNodeLabels``): node name, labels and annotations."""
    ls: LabelDict = {}
    if node is None:
        return ls
    add_object_meta(ls, node, "node")
    return ls


def join_host_port(host: str, port: object) -> str:
    """``net.JoinHostPort``: brackets around IPv6 literals."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"
