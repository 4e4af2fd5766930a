"""A safe YAML loader that keeps each node's line, for error messages.

``parse_yaml(text)`` returns a tree of ``YMap`` / ``YSeq`` / ``YScalar`` nodes. No tag can build
an object: only the standard scalar, sequence and mapping tags are accepted. Scalars keep their raw
text, because Prometheus (Go yaml.v2) fills a string field from the raw text of any scalar
(``regex: 010`` is the string ``"010"``, not the YAML 1.1 octal 8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

_STD_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:binary",
}
_MAP_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:merge"}
_SEQ_TAGS = {"tag:yaml.org,2002:seq"}


class YAMLLoadError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class YScalar:
    value: Any  # resolved Python value (str, int, float, bool, None)
    text: str  # raw text as written
    tag: str  # "str" | "int" | "float" | "bool" | "null" | "timestamp" | "binary"
    line: int
    quoted: bool = False


@dataclass
class YSeq:
    items: list[YNode]
    line: int


@dataclass
class YMap:
    # key -> (key line, value node); insertion ordered.
    items: dict[str, tuple[int, YNode]] = field(default_factory=dict)
    line: int = 0

    def get(self, key: str) -> YNode | None:
        kv = self.items.get(key)
        return kv[1] if kv else None

    def key_line(self, key: str) -> int:
        kv = self.items.get(key)
        return kv[0] if kv else self.line


YNode = YScalar | YSeq | YMap


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~5x faster


class _Loader(_Base):  # type: ignore[misc]
    """Safe loader used only to compose nodes and resolve scalar tags; objects are never built
    from tags (only the standard scalar tags are constructed, one scalar at a time)."""

    converted = 0  # nodes converted, aliases expanded each time they are used
    distinct: set[int]  # ids of the distinct nodes converted


# A "billion laughs" document (aliases of aliases) expands exponentially; as Go's yaml refuses
# "excessive aliasing", conversion stops once expanded aliases outnumber the document's own
# nodes ten to one (past a floor that any real config stays under).
_ALIAS_FLOOR = 100_000
_ALIAS_RATIO = 10


def _resolve_scalar(loader: _Loader, node: yaml.ScalarNode) -> YScalar:
    tag = node.tag
    line = node.start_mark.line + 1
    quoted = node.style in ("'", '"', "|", ">")
    if tag not in _STD_SCALAR_TAGS:
        raise YAMLLoadError(line, f"YAML tag {tag!r} is not allowed")
    short = tag.rsplit(":", 1)[-1]
    text = str(node.value)
    value: Any
    try:
        if short in ("str", "timestamp", "binary"):
            value = text
        elif short == "null":
            value = None
        elif short == "bool":
            value = loader.construct_yaml_bool(node)
        elif short == "int":
            value = loader.construct_yaml_int(node)
        else:
            value = loader.construct_yaml_float(node)
    except (yaml.YAMLError, ValueError) as exc:
        raise YAMLLoadError(line, f"cannot read scalar {text!r}: {exc}") from None
    return YScalar(value=value, text=text, tag=short, line=line, quoted=quoted)


def _convert(loader: _Loader, node: yaml.Node, depth: int = 0) -> YNode:
    if depth > 200:
        raise YAMLLoadError(node.start_mark.line + 1, "YAML nesting too deep")
    line = node.start_mark.line + 1
    loader.converted += 1
    loader.distinct.add(id(node))
    if loader.converted > _ALIAS_FLOOR and loader.converted > _ALIAS_RATIO * len(loader.distinct):
        raise YAMLLoadError(line, "the document contains excessive aliasing (YAML anchors)")
    if isinstance(node, yaml.ScalarNode):
        return _resolve_scalar(loader, node)
    if isinstance(node, yaml.SequenceNode):
        if node.tag not in _SEQ_TAGS:
            raise YAMLLoadError(line, f"YAML tag {node.tag!r} is not allowed")
        return YSeq([_convert(loader, n, depth + 1) for n in node.value], line)
    if isinstance(node, yaml.MappingNode):
        if node.tag not in _MAP_TAGS:
            raise YAMLLoadError(line, f"YAML tag {node.tag!r} is not allowed")
        out = YMap(line=line)
        merged: dict[str, tuple[int, YNode]] = {}
        for knode, vnode in node.value:
            kline = knode.start_mark.line + 1
            if knode.tag == "tag:yaml.org,2002:merge":
                sources = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
                for src in sources:
                    conv = _convert(loader, src, depth + 1)
                    if not isinstance(conv, YMap):
                        raise YAMLLoadError(kline, "a merge key (<<) must point to a mapping")
                    for k, v in conv.items.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(knode, yaml.ScalarNode):
                raise YAMLLoadError(kline, "mapping keys must be scalars")
            key = _resolve_scalar(loader, knode)
            k = key.text if key.tag != "null" else ""
            if k in out.items:
                raise YAMLLoadError(
                    kline, f'mapping key "{k}" already defined at line {out.items[k][0]}'
                )
            out.items[k] = (kline, _convert(loader, vnode, depth + 1))
        for k, v in merged.items():
            out.items.setdefault(k, v)
        return out
    raise YAMLLoadError(line, "unsupported YAML node")  # pragma: no cover


def parse_yaml(text: str, more: list[int] | None = None) -> YNode | None:
    """Parse a YAML document into a position-annotated tree (``None`` for an empty file).

    As Go's yaml.v2 ``Unmarshal``, only the first document counts; the line of a second one is
    appended to ``more`` (when given) so the caller can warn.
    """
    loader = _Loader(text)
    try:
        try:
            node = loader.get_node() if loader.check_node() else None
            if loader.check_node():
                nxt = loader.get_node()
                if more is not None and nxt is not None:
                    more.append(nxt.start_mark.line + 1)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 0
            raise YAMLLoadError(line, f"invalid YAML: {exc.problem or exc}") from None
        except yaml.YAMLError as exc:
            raise YAMLLoadError(0, f"invalid YAML: {exc}") from None
        if node is None:
            return None
        loader.distinct = set()
        return _convert(loader, node)
    finally:
        loader.dispose()


def to_plain(node: YNode | None) -> Any:
    """The tree as plain Python values (dicts, lists, scalars)."""
    if node is None:
        return None
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [to_plain(n) for n in node.items]
    return {k: to_plain(v) for k, (_line, v) in node.items.items()}
