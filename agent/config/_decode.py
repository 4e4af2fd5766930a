"""Typed field readers over the position-annotated YAML tree, collecting every error."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from agent.config._units import parse_duration, parse_size
from agent.config._yaml import YMap, YNode, YScalar, YSeq

T = TypeVar("T")


class Ctx:
    """Where we are (file name) and what went wrong so far."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, line: int, path: str, msg: str) -> None:
        path = path.rstrip(": ")
        loc = f"{self.source}:{line}" if line else self.source
        self.errors.append(f"{loc}: {path}: {msg}" if path else f"{loc}: {msg}")

    def warn(self, line: int, path: str, msg: str) -> None:
        path = path.rstrip(": ")
        loc = f"{self.source}:{line}" if line else self.source
        self.warnings.append(f"{loc}: {path}: {msg}" if path else f"{loc}: {msg}")


def join(path: str, key: str) -> str:
    if not path:
        return key
    if path.endswith(": ") or path.endswith(" "):
        return path + key
    return f"{path}.{key}"


def idx(path: str, i: int) -> str:
    return f"{path}[{i}]"


def line_of(node: YNode | None, default: int = 0) -> int:
    return node.line if node is not None else default


def kind(node: YNode) -> str:
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    if node.tag == "null":
        return "null"
    return f"{node.tag} {node.text!r}"


def is_null(node: YNode | None) -> bool:
    return node is None or (isinstance(node, YScalar) and node.tag == "null")


def as_map(ctx: Ctx, node: YNode | None, path: str) -> YMap | None:
    """The node as a mapping; null means "not set" (None); anything else is an error."""
    if is_null(node):
        return None
    if isinstance(node, YMap):
        return node
    assert node is not None
    ctx.error(node.line, path, f"expected a mapping, got {kind(node)}")
    return None


def as_seq(ctx: Ctx, node: YNode | None, path: str) -> list[YNode] | None:
    if is_null(node):
        return None
    if isinstance(node, YSeq):
        return node.items
    assert node is not None
    ctx.error(node.line, path, f"expected a list, got {kind(node)}")
    return None


def check_keys(
    ctx: Ctx,
    m: YMap,
    path: str,
    known: Iterable[str],
    unsupported: Mapping[str, str] | None = None,
) -> None:
    """Strict unmarshal: every key must be known; ``unsupported`` keys are rejected by name."""
    known_set = set(known)
    for key, (kline, _v) in m.items.items():
        if key in known_set:
            continue
        if unsupported and key in unsupported:
            ctx.error(kline, join(path, key), unsupported[key])
            continue
        hint = difflib.get_close_matches(key, sorted(known_set), n=1, cutoff=0.75)
        extra = f' (did you mean "{hint[0]}"?)' if hint else ""
        ctx.error(kline, join(path, key), f'unknown field "{key}"{extra}')


def get_str(ctx: Ctx, m: YMap | None, key: str, path: str, default: str = "") -> str:
    if m is None:
        return default
    node = m.get(key)
    if node is None:
        return default
    return scalar_str(ctx, node, join(path, key), default)


def scalar_str(ctx: Ctx, node: YNode, path: str, default: str = "") -> str:
    if isinstance(node, YScalar):
        if node.tag == "null":
            return default
        return node.text
    ctx.error(node.line, path, f"expected a string, got {kind(node)}")
    return default


def get_bool(ctx: Ctx, m: YMap | None, key: str, path: str, default: bool) -> bool:
    if m is None:
        return default
    node = m.get(key)
    if node is None:
        return default
    if is_null(node):
        return False  # an explicit null is Go's zero value, as yaml.v2 decodes it
    if isinstance(node, YScalar) and node.tag == "bool":
        return bool(node.value)
    ctx.error(node.line, join(path, key), f"expected true or false, got {kind(node)}")
    return default


def get_uint(ctx: Ctx, m: YMap | None, key: str, path: str, default: int = 0) -> int:
    if m is None:
        return default
    node = m.get(key)
    if is_null(node):
        return default
    assert node is not None
    value = node.value if isinstance(node, YScalar) and node.tag in ("int", "float") else None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # yaml.v2 decodes an integral float into an integer field
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            ctx.error(node.line, join(path, key), f"must not be negative, got {value}")
            return default
        return value
    ctx.error(node.line, join(path, key), f"expected a non-negative integer, got {kind(node)}")
    return default


def get_float(ctx: Ctx, m: YMap | None, key: str, path: str, default: float = 0.0) -> float:
    if m is None:
        return default
    node = m.get(key)
    if is_null(node):
        return default
    assert node is not None
    if isinstance(node, YScalar) and node.tag in ("int", "float"):
        return float(node.value)
    ctx.error(node.line, join(path, key), f"expected a number, got {kind(node)}")
    return default


def get_duration(
    ctx: Ctx, m: YMap | None, key: str, path: str, default: float | None = None
) -> float | None:
    if m is None:
        return default
    node = m.get(key)
    if is_null(node):
        return default
    assert node is not None
    if not isinstance(node, YScalar):
        ctx.error(node.line, join(path, key), f"expected a duration, got {kind(node)}")
        return default
    try:
        return parse_duration(node.text)
    except ValueError as exc:
        ctx.error(node.line, join(path, key), str(exc))
        return default


def get_size(
    ctx: Ctx, m: YMap | None, key: str, path: str, default: int = 0, bare_int: bool = False
) -> int:
    """A ``units.Base2Bytes`` size. Prometheus needs a unit (``1000`` is an error there); the
    agent's own section also takes a bare number of bytes (``bare_int``). A negative size means
    "no limit" in Prometheus and is returned as 0."""
    if m is None:
        return default
    node = m.get(key)
    if is_null(node):
        return default
    assert node is not None
    if bare_int and isinstance(node, YScalar) and node.tag == "int" and isinstance(node.value, int):
        if node.value < 0:
            ctx.error(node.line, join(path, key), "size must not be negative")
            return default
        return int(node.value)
    if not isinstance(node, YScalar):
        ctx.error(node.line, join(path, key), f"expected a size such as 10MiB, got {kind(node)}")
        return default
    try:
        size = parse_size(node.text)
    except ValueError as exc:
        ctx.error(node.line, join(path, key), str(exc))
        return default
    if size < 0:
        if bare_int:
            ctx.error(node.line, join(path, key), "size must not be negative")
            return default
        return 0
    return size


def get_str_list(ctx: Ctx, m: YMap | None, key: str, path: str) -> tuple[str, ...] | None:
    """A list of strings; ``None`` when the key is absent or null."""
    if m is None:
        return None
    node = m.get(key)
    p = join(path, key)
    items = as_seq(ctx, node, p)
    if items is None:
        return None
    out = []
    for i, item in enumerate(items):
        if isinstance(item, YScalar) and item.tag != "null":
            out.append(item.text)
        else:
            ctx.error(item.line, idx(p, i), f"expected a string, got {kind(item)}")
    return tuple(out)


def get_str_map(ctx: Ctx, m: YMap | None, key: str, path: str) -> dict[str, str] | None:
    if m is None:
        return None
    node = m.get(key)
    p = join(path, key)
    mm = as_map(ctx, node, p)
    if mm is None:
        return None
    out: dict[str, str] = {}
    for k, (_kl, v) in mm.items.items():
        if isinstance(v, YScalar):
            out[k] = "" if v.tag == "null" else v.text
        else:
            ctx.error(v.line, join(p, k), f"expected a string, got {kind(v)}")
    return out


def each_map(
    ctx: Ctx, m: YMap | None, key: str, path: str, fn: Callable[[YMap, str], T | None]
) -> tuple[T, ...]:
    """Decode a list of mappings with ``fn(item, item_path)``; null items are errors."""
    if m is None:
        return ()
    p = join(path, key)
    items = as_seq(ctx, m.get(key), p)
    if items is None:
        return ()
    out: list[T] = []
    for i, item in enumerate(items):
        ip = idx(p, i)
        im = as_map(ctx, item, ip)
        if im is None:
            if is_null(item):
                ctx.error(item.line, ip, "empty or null entry")
            continue
        r = fn(im, ip)
        if r is not None:
            out.append(r)
    return tuple(out)
