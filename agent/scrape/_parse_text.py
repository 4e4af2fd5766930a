"""Prometheus text format 0.0.4: the per-line slow path (first sighting of a series, comments).

The hot loop lives in ``parse.py``; it calls :func:`parse_sample_line` when a line's series text
is not cached yet or the quick split did not work, and :func:`parse_comment_line` for ``#``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from sys import intern

from agent.scrape._parse_common import (
    Label,
    ParseError,
    format_om_float,
    parse_float,
    parse_go_int64,
    quote,
    unescape,
    unescape_help,
)
from agent.scrape._parse_labels import (
    MNAME_RE,
    MSTART,
    check_labels,
    check_utf8,
    read_family_name,
    scan_label_block,
    skip_ws,
)

TEXT_TYPES = {
    "counter": "counter",
    "gauge": "gauge",
    "histogram": "histogram",
    "summary": "summary",
    "untyped": "unknown",
}

_META_RE = re.compile(r"#[ \t]+(HELP|TYPE)[ \t]+")

# A parsed series: (metric name, labels in exposition order without __name__).
Entry = tuple[str, tuple[Label, ...]]
# How a parser caches it: the name and the labels flattened (n1, v1, n2, v2, ...), strings
# shared between series. A flat tuple costs ~60% less memory than a tuple of pairs; the pairs
# are rebuilt only when asked for (once per new series, by the sample processor).
CacheEntry = tuple[str, tuple[str, ...]]


def compact(name: str, labels: tuple[Label, ...], share: Callable[[str, str], str]) -> CacheEntry:
    flat: list[str] = []
    for k, v in labels:
        flat.append(intern(k))
        flat.append(share(v, v))
    return intern(name), tuple(flat)


def expand(flat: tuple[str, ...]) -> tuple[Label, ...]:
    return tuple(zip(flat[::2], flat[1::2], strict=True))


def normalize_le_quantile(mtype: str, labels: list[Label]) -> list[Label]:
    """Prometheus 3 rewrites ``le`` (histograms) / ``quantile`` (summaries) label values to the
    canonical OpenMetrics float form (``"1"`` -> ``"1.0"``), keyed on the last TYPE seen."""
    key = "le" if mtype == "histogram" else "quantile" if mtype == "summary" else None
    if key is None:
        return labels
    out = labels
    for idx, (ln, lv) in enumerate(labels):
        if ln == key:
            try:
                f = parse_float(lv)
            except ValueError:
                continue
            canon = format_om_float(f)
            if canon != lv:
                out = list(labels)
                out[idx] = (ln, canon)
    return out


def parse_series(
    line: str, lineno: int, om: bool, strict: bool = False
) -> tuple[int, int, str, list[Label]]:
    """Scan name + label block; return (start, end, metric name, labels)."""
    n = len(line)
    i = 0 if om else skip_ws(line, 0)
    start = i
    if i >= n:
        raise ParseError("expected a metric name", lineno)
    c = line[i]
    name: str | None
    if c in MSTART:
        m = MNAME_RE.match(line, i)
        assert m is not None
        name = m.group()
        i = m.end()
        j = i if om else skip_ws(line, i)
        if j < n and line[j] == "{":
            i, name, labels = scan_label_block(line, j, om, lineno, name, strict)
        else:
            labels = []
    elif c == "{":
        i, name, labels = scan_label_block(line, i, om, lineno, None, strict)
        if name is None:
            raise ParseError(f"metric name not set while parsing {quote(line[:i])}", lineno)
    else:
        raise ParseError(
            f"expected a metric name or '{{', got {quote(c)} while parsing {quote(line[: i + 1])}",
            lineno,
        )
    assert name is not None
    check_labels(name, labels, lineno)
    return start, i, name, labels


# The common shape of a sample line: a plain name, a label block without blanks, one blank,
# the value, optionally one blank and a timestamp. Parsed with two C-speed regex calls; any
# other shape (or any doubt) goes through the general scanner below, which gives the same
# result for these lines.
_PAIR = r'[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*(?:\\.[^"\\]*)*"'
CANON_RE = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:" + _PAIR + r"(?:," + _PAIR + r")*,?)?)\})? "
)
PAIRS_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*(?:\\.[^"\\]*)*)"')


def quick_sample(line: str, mtype: str) -> tuple[str, Entry, float, int | None] | None:
    m = CANON_RE.match(line)
    if m is None:
        return None
    end = m.end()
    tail = line[end:]
    ts: int | None = None
    vtok = tail
    if " " in tail:
        vtok, _, ttok = tail.partition(" ")
        if not (ttok.isdigit() and len(ttok) < 19):
            return None
        ts = int(ttok)
    try:
        value = parse_float(vtok)
    except ValueError:
        return None
    series = line[: end - 1]
    block = m.group(2)
    if not block:
        return series, (m.group(1), ()), value, ts
    if "__name__=" in block:
        return None  # a duplicate name: the general path reports it
    labels = PAIRS_RE.findall(block)
    if "\\" in block:
        labels = [(k, unescape(v)) for k, v in labels]
    if len(labels) > 1 and len({k for k, _ in labels}) != len(labels):
        return None
    if mtype == "histogram" or mtype == "summary":
        labels = normalize_le_quantile(mtype, labels)
    return series, (m.group(1), tuple(labels)), value, ts


def parse_sample_line(line: str, lineno: int, mtype: str) -> tuple[str, Entry, float, int | None]:
    """A full, validating parse of one text-format sample line."""
    if line.isascii():
        got = quick_sample(line, mtype)
        if got is not None:
            return got
    else:
        check_utf8(line, "sample line", lineno)
    return general_sample_line(line, lineno, mtype)


def general_sample_line(line: str, lineno: int, mtype: str) -> tuple[str, Entry, float, int | None]:
    """The character-level parse of a text sample line (any shape the format allows)."""
    start, i, name, labels = parse_series(line, lineno, om=False)
    series = line[start:i]
    n = len(line)
    if i < n and line[i] not in " \t{" and line[i - 1] != "}":
        k = i
        while k < n and line[k] not in " \t{":
            k += 1
        bad = line[start:k]
        raise ParseError(
            f"invalid character {quote(line[i])} in metric name {quote(bad)} (other names "
            f"must be quoted inside the braces: {{{quote(bad)}}})",
            lineno,
        )
    j = skip_ws(line, i)
    k = j
    while k < n and line[k] not in " \t{":
        k += 1
    tok = line[j:k]
    if not tok:
        raise ParseError(f"expected value after metric {quote(series)}", lineno)
    if k < n and line[k] == "{":
        raise ParseError(f"unexpected '{{' after {quote(line[:k])}", lineno)
    try:
        value = parse_float(tok)
    except ValueError as e:
        hint = " (Windows line endings are not accepted)" if tok.endswith("\r") else ""
        raise ParseError(f"{e} as value of {quote(series)}{hint}", lineno) from None
    k = skip_ws(line, k)
    ts: int | None = None
    if k < n:
        m = k
        while m < n and line[m] not in " \t":
            m += 1
        try:
            ts = parse_go_int64(line[k:m])
        except ValueError as e:
            raise ParseError(f"{e} after value of {quote(series)}", lineno) from None
        m = skip_ws(line, m)
        if m < n:
            raise ParseError(
                f"expected end of line after timestamp, got {quote(line[m:], 20)}", lineno
            )
    labels = normalize_le_quantile(mtype, labels)
    return series, (name, tuple(labels)), value, ts


def parse_comment_line(line: str, lineno: int) -> tuple[str, str, str] | None:
    """``# HELP name text`` / ``# TYPE name type`` -> (kind, family, text); other comments None."""
    m = _META_RE.match(line)
    if m is None:
        return None
    kind = m.group(1)
    fam, i = read_family_name(line, m.end(), kind, lineno, 20)
    rest = line[i:]
    text = rest[1:] if len(rest) > 1 else ""
    check_utf8(line, f"{kind} line", lineno)
    if kind == "TYPE":
        t = TEXT_TYPES.get(text)
        if t is None:
            raise ParseError(f"invalid metric type {quote(text)} for {quote(fam)}", lineno)
        return kind, fam, t
    return kind, fam, unescape_help(text)
