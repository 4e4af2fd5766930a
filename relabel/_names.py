"""Prometheus' label-name check (shared by rule parsing and the compiled rules)."""

from __future__ import annotations

import re

__all__ = ["is_valid_label_name"]

_LEGACY_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _valid_utf8(s: str) -> bool:
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_valid_label_name(name: str, scheme: str = "utf8") -> bool:
    """Prometheus' label-name check: legacy ``[a-zA-Z_][a-zA-Z0-9_]*``; utf8: non-empty UTF-8."""
    if scheme == "legacy":
        return _LEGACY_NAME.fullmatch(name) is not None
    return name != "" and _valid_utf8(name)
