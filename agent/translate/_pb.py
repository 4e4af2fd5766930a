"""Minimal protobuf wire-format encoding for the OTLP metrics messages we emit.

Only what ``agent.translate`` needs: varints, length-delimited fields, fixed64/double fields and
string ``KeyValue`` attributes. The encodings are checked against ``opentelemetry-proto`` by
decoding them in the tests.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

# Precomputed varints for small lengths (almost every length we write is below 16 KiB).
_SMALL = 1 << 14
_VARINT_TABLE: list[bytes] = []
for _n in range(_SMALL):
    if _n < 0x80:
        _VARINT_TABLE.append(bytes((_n,)))
    else:
        _VARINT_TABLE.append(bytes(((_n & 0x7F) | 0x80, _n >> 7)))

_DOUBLE = struct.Struct("<d")
_FIXED64 = struct.Struct("<Q")


def varint(n: int) -> bytes:
    """Unsigned LEB128 varint (negative numbers as 64-bit two's complement, as protobuf)."""
    if 0 <= n < _SMALL:
        return _VARINT_TABLE[n]
    if n < 0:
        n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def key(field: int, wire_type: int) -> bytes:
    return varint((field << 3) | wire_type)


_LD_KEYS = [varint((f << 3) | 2) for f in range(32)]


def ld(field: int, data: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    n = len(data)
    return (
        (_LD_KEYS[field] if field < 32 else key(field, 2))
        + (_VARINT_TABLE[n] if n < _SMALL else varint(n))
        + data
    )


def ld_key(field: int) -> bytes:
    return key(field, 2)


def string(field: int, s: str) -> bytes:
    return ld(field, s.encode("utf-8"))


def double(field: int, v: float) -> bytes:
    return key(field, 1) + _DOUBLE.pack(v)


def fixed64(field: int, v: int) -> bytes:
    return key(field, 1) + _FIXED64.pack(v & 0xFFFFFFFFFFFFFFFF)


def uvarint_field(field: int, v: int) -> bytes:
    return key(field, 0) + varint(v)


def key_value(k: str, v: str) -> bytes:
    """``KeyValue{key: k, value: AnyValue{string_value: v}}`` (without an outer tag)."""
    return string(1, k) + ld(2, string(1, v))


def attribute(field: int, k: str, v: str) -> bytes:
    """``ld(field, key_value(k, v))`` in one go (the translator's per-label-pair encoding)."""
    kb = k.encode("utf-8")
    vb = v.encode("utf-8")
    nk = len(kb)
    nv = len(vb)
    if field < 16 and nk + nv < 122:  # every tag and length is one byte
        return b"%c%c\n%c%s\x12%c\n%c%s" % ((field << 3) | 2, 6 + nk + nv, nk, kb, 2 + nv, nv, vb)
    value = b"\n" + varint(nv) + vb  # AnyValue.string_value (1)
    body = b"\n" + varint(nk) + kb + b"\x12" + varint(len(value)) + value
    return (_LD_KEYS[field] if field < 32 else key(field, 2)) + varint(len(body)) + body


def attributes(field: int, items: Iterable[tuple[str, str]]) -> bytes:
    """Repeated ``KeyValue`` string attributes as field ``field``."""
    return b"".join(ld(field, key_value(k, v)) for k, v in items)
