"""Go's ``strings.ToLower`` / ``strings.ToUpper``: per-rune *simple* Unicode case mapping.

Python's ``str.lower``/``str.upper`` apply the full mappings of SpecialCasing.txt (``'ß'.upper()``
is ``'SS'``, ``'İ'.lower()`` is two code points) and the Final_Sigma context rule; Go maps each
rune on its own to exactly one rune. We map rune by rune and, where Python's full mapping has
more than one code point, fall back to the simple mapping (which for those characters is the
single-code-point titlecase mapping, or the character itself).
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["go_lower", "go_upper"]


@lru_cache(maxsize=4096)
def _upper_rune(ch: str) -> str:
    u = ch.upper()
    if len(u) == 1:
        return u
    # e.g. U+1F80 -> U+1F88, U+1FB3 -> U+1FBC (simple upper = simple title); 'ß', ligatures,
    # 'ŉ' and the like have no simple uppercase mapping and stay unchanged.
    t = ch.title()
    return t if len(t) == 1 else ch


@lru_cache(maxsize=4096)
def _lower_rune(ch: str) -> str:
    lo = ch.lower()
    if len(lo) == 1:
        return lo
    # U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE is the only multi-code-point lowercase
    # mapping; its simple mapping is 'i'.
    return "i" if ch == "\u0130" else ch


def go_upper(s: str) -> str:
    if s.isascii():
        return s.upper()
    return "".join([_upper_rune(ch) for ch in s])


def go_lower(s: str) -> str:
    if s.isascii():
        return s.lower()
    return "".join([_lower_rune(ch) for ch in s])
