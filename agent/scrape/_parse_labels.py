"""Scanning of a sample's name and label block (the slow, validating path).

Follows the lexers of Prometheus' ``model/textparse`` (promlex.l, openmetricslex.l):

- metric name ``[a-zA-Z_:][a-zA-Z0-9_:]*``, or a quoted UTF-8 name inside the braces
  (``{"my.metric", a="b"}``, Prometheus 3);
- label name ``[a-zA-Z_][a-zA-Z0-9_]*`` or a quoted UTF-8 name;
- label value ``"(\\\\.|[^\\\\"])*"``.

The text format allows blanks and tabs between all tokens, a missing comma between pairs and a
trailing comma. OpenMetrics allows no blanks and requires commas; a trailing comma is accepted
as Prometheus does, and rejected in strict mode (the OpenMetrics test suite demands it).
"""

from __future__ import annotations

import re

from agent.scrape._parse_common import Label, ParseError, quote, unescape

MNAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LNAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
QSTR_RE = re.compile(r'"(?:\\.|[^\\"\n])*"')
SURROGATE_RE = re.compile("[\udc80-\udcff]")

MSTART = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:")


def read_family_name(line: str, i: int, kind: str, lineno: int, limit: int = 60) -> tuple[str, int]:
    """The family name of a ``# HELP|TYPE|UNIT`` line at ``i`` (bare or quoted), and where it ends."""
    if i < len(line) and line[i] == '"':
        q = QSTR_RE.match(line, i)
        if q is None:
            raise ParseError(f"unterminated quoted metric name after {kind}", lineno)
        return unescape(q.group()[1:-1]), q.end()
    m = MNAME_RE.match(line, i)
    if m is None:
        raise ParseError(f"expected metric name after {kind}, got {quote(line[i:], limit)}", lineno)
    return m.group(), m.end()


def skip_ws(line: str, i: int) -> int:
    """Index of the first character at or after ``i`` that is not a blank or a tab."""
    n = len(line)
    while i < n and line[i] in " \t":
        i += 1
    return i


def _got(line: str, i: int) -> str:
    return quote(line[i : i + 1]) if i < len(line) else "end of line"


def check_utf8(s: str, what: str, lineno: int) -> None:
    """Text-format bodies are decoded with surrogateescape; invalid bytes show up here."""
    if SURROGATE_RE.search(s) is not None:
        raise ParseError(f"invalid UTF-8 in {what} {quote(s)}", lineno)


def scan_label_block(
    line: str, i: int, om: bool, lineno: int, name: str | None, strict: bool = False
) -> tuple[int, str | None, list[Label]]:
    """Parse ``{...}`` starting at ``line[i] == '{'``; return (index after ``}``, name, labels).

    ``name`` is the metric name read before the brace (None if the line started with ``{``);
    a quoted string followed by ``,`` or ``}`` sets it.
    """
    n = len(line)
    labels: list[Label] = []
    i += 1
    first = True
    while True:
        if not om:
            i = skip_ws(line, i)
        if i >= n:
            raise ParseError(f"unterminated label set in {quote(line)}", lineno)
        c = line[i]
        if c == "}":
            if strict and not first:
                raise ParseError(f"trailing comma in label set of {quote(line[: i + 1])}", lineno)
            return i + 1, name, labels
        quoted = False
        if c == '"':
            m = QSTR_RE.match(line, i)
            if m is None:
                raise ParseError(f"unterminated quoted name in {quote(line)}", lineno)
            lname = unescape(m.group()[1:-1])
            quoted = True
        else:
            m = LNAME_RE.match(line, i)
            if m is None:
                raise ParseError(
                    f"expected label name, got {_got(line, i)} while parsing {quote(line[: i + 1])}",
                    lineno,
                )
            lname = m.group()
        i = m.end()
        if not om:
            i = skip_ws(line, i)
        c = line[i] if i < n else ""
        if quoted and (c == "," or c == "}"):
            if name is not None:
                raise ParseError(f"metric name already set while parsing {quote(line[:i])}", lineno)
            if not lname:
                raise ParseError("empty metric name", lineno)
            name = lname
            if c == "}":
                return i + 1, name, labels
            i += 1
            first = False
            continue
        if c != "=":
            raise ParseError(
                f"expected '=' after label name {quote(lname)}, got {_got(line, i)}", lineno
            )
        if not lname:
            raise ParseError("empty label name", lineno)
        i += 1
        if not om:
            i = skip_ws(line, i)
        if i >= n or line[i] != '"':
            raise ParseError(
                f"expected quoted label value for {quote(lname)}, got {_got(line, i)}", lineno
            )
        m = QSTR_RE.match(line, i)
        if m is None:
            raise ParseError(
                f"invalid label value {quote(line[i:], 30)}: unterminated quote", lineno
            )
        raw = m.group()[1:-1]
        labels.append((lname, unescape(raw)))
        i = m.end()
        if not om:
            i = skip_ws(line, i)
        c = line[i] if i < n else ""
        if c == ",":
            i += 1
            first = False
            continue
        if om:
            if c != "}":
                raise ParseError(
                    f"expected ',' or '}}' after label value, got {_got(line, i)} while parsing "
                    f"{quote(line[: i + 1])}",
                    lineno,
                )
            first = True
        # text: a missing comma is tolerated (Prometheus' parser allows it)
        else:
            first = True


def check_labels(name: str, labels: list[Label], lineno: int) -> None:
    """Duplicate label names fail the scrape in Prometheus ("label name is not unique")."""
    seen: set[str] = {"__name__"}
    for ln, _ in labels:
        if ln in seen:
            raise ParseError(f"label name {quote(ln)} is not unique in {quote(name)}", lineno)
        seen.add(ln)
