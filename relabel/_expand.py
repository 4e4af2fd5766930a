"""Go ``Regexp.Expand`` template scanning, written from the Go spec (``$1``, ``${1}``, ``$name``,
``${name}``, ``$$``; malformed ``$`` kept literally; unknown or unmatched group -> empty).

A template is compiled once against a regex's groups into a tuple of parts: a ``str`` is
literal text and an ``int`` is a group index whose submatch is inserted (``-1``: a group that
does not exist, always empty).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence

__all__ = ["Template", "compile_template", "expand", "scan"]

# (literal text | group reference) parts; a reference is an int index or a name to resolve.
Part = str | int
Template = tuple[Part, ...]


def _is_name_char(ch: str) -> bool:
    # Go: unicode.IsLetter (category L*) || unicode.IsDigit (Nd) || '_'
    if ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ("0" <= ch <= "9"):
        return True
    if ch < "\x80":
        return False
    cat = unicodedata.category(ch)
    return cat[0] == "L" or cat == "Nd"


def _extract(s: str, i: int) -> tuple[str, int, int] | None:
    """Parse ``$name`` / ``${name}`` at ``s[i] == '$'``: (name, number or -1, end index)."""
    n = len(s)
    if n - i < 2:
        return None
    j = i + 1
    brace = s[j] == "{"
    if brace:
        j += 1
    start = j
    while j < n and _is_name_char(s[j]):
        j += 1
    if j == start:
        return None  # empty name
    name = s[start:j]
    if brace:
        if j >= n or s[j] != "}":
            return None  # missing closing brace
        j += 1
    num = 0
    for ch in name:
        if not ("0" <= ch <= "9") or num >= 100_000_000:
            num = -1
            break
        num = num * 10 + ord(ch) - 48
    if name[0] == "0" and len(name) > 1:
        num = -1  # leading zeros make it a name
    return name, num, j


def scan(template: str) -> list[str | tuple[str, int]]:
    """Split a template into literal strings and ``(name, number)`` references."""
    out: list[str | tuple[str, int]] = []
    lit: list[str] = []
    i, n = 0, len(template)
    while i < n:
        k = template.find("$", i)
        if k < 0:
            lit.append(template[i:])
            break
        lit.append(template[i:k])
        if k + 1 < n and template[k + 1] == "$":
            lit.append("$")
            i = k + 2
            continue
        ext = _extract(template, k)
        if ext is None:
            lit.append("$")  # malformed: the $ is raw text
            i = k + 1
            continue
        name, num, i = ext
        if lit:
            out.append("".join(lit))
            lit = []
        out.append((name, num))
    if lit and "".join(lit):
        out.append("".join(lit))
    return [p for p in out if p != ""]


def compile_template(template: str, group_count: int, group_names: Mapping[str, int]) -> Template:
    """Resolve references against a regex with ``group_count`` groups and named groups."""
    parts: list[Part] = []
    for p in scan(template):
        if isinstance(p, str):
            if parts and isinstance(parts[-1], str):
                parts[-1] += p
            else:
                parts.append(p)
            continue
        name, num = p
        if num >= 0:
            idx = num if num <= group_count else -1
        else:
            idx = group_names.get(name, -1)
        parts.append(idx)
    return tuple(parts)


def expand(template: Template, groups: Sequence[str | None]) -> str:
    """Expand a compiled template with the submatches of one match."""
    if len(template) == 1 and isinstance(template[0], str):
        return template[0]
    out: list[str] = []
    for p in template:
        if isinstance(p, str):
            out.append(p)
        elif p >= 0:
            g = groups[p]
            if g:
                out.append(g)
    return "".join(out)
