"""Prometheus text format 0.0.4: the per-line slow path (first sighting of a series, comments).

The hot loop lives in ``parse.py``; it parses a new series itself when the line takes quick path
1 below (with ``SKELETONS`` / ``new_skeleton`` / ``canonical_bound``, as ``split_labels`` does),
calls :func:`parse_sample_flat` for other lines whose series text is not cached, and
:func:`parse_comment_line` for ``#``. :func:`parse_sample_flat` is :func:`parse_sample_line`
with the labels already compacted for the cache (``parse_sample_line`` + ``compact`` without the
label pairs in between: ~20% less per new series).
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


_CANON: dict[str, str] = {}  # le/quantile label value -> its canonical form (memo)
_MEMO_MAX = 4096


def canonical_float_label(lv: str) -> str:
    """The canonical OpenMetrics float form of a ``le``/``quantile`` value, or ``lv`` itself
    when it is not a float (Prometheus then keeps it as it is)."""
    canon = _CANON.get(lv)
    if canon is None:
        try:
            canon = format_om_float(parse_float(lv))
        except ValueError:
            canon = lv
        if len(_CANON) >= _MEMO_MAX:
            _CANON.clear()
        _CANON[lv] = canon
    return canon


def normalize_le_quantile(mtype: str, labels: list[Label]) -> list[Label]:
    """Prometheus 3 rewrites ``le`` (histograms) / ``quantile`` (summaries) label values to the
    canonical OpenMetrics float form (``"1"`` -> ``"1.0"``), keyed on the last TYPE seen."""
    key = "le" if mtype == "histogram" else "quantile" if mtype == "summary" else None
    if key is None:
        return labels
    out = labels
    for idx, (ln, lv) in enumerate(labels):
        if ln == key:
            canon = canonical_float_label(lv)
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
# the value, optionally one blank and a timestamp. Two quick paths take it; any other shape (or
# any doubt) goes through the general scanner below, which gives the same result for these
# lines (tests/parse/test_fuzz.py, test_quick_paths.py and test_new_series.py compare them).
#
# 1. No backslash in the line (nearly every line): then each '"' opens or closes a label value,
#    so ``line.split('"')`` yields the values (odd items) and the text around them (even
#    items). The even items but the last, joined again, are the line's *skeleton*
#    (``name{a=",b=``): the same for every series of a family with the same label names. It is
#    validated once (names, '=', ',', no duplicate or ``__name__`` label) and remembered with
#    the names interned, so a new series costs a split, a join and a dict lookup.
# 2. Otherwise two regex calls: CANON_RE checks the shape, PAIRS_RE extracts the pairs.
_LNAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_SKELETON_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{(" + _LNAME + r'=(?:",' + _LNAME + r"=)*)")
# skeleton -> (metric name, label names, index of "le" or -1, index of "quantile" or -1)
Skeleton = tuple[str, tuple[str, ...], int, int]
SKELETONS: dict[str, Skeleton] = {}
_SKELETONS_MAX = 2048
# value token -> float, for tokens parse_float accepted (KSM pages are mostly "0" and "1").
# Filled up to _MEMO_MAX by whatever pages come first, so the common tokens are there from the
# start: the text parser looks them up in its own table first, and would leave them out.
COMMON_VALUES = ("0", "1", "0.0", "1.0", "2", "3", "4", "5", "10", "-1")
FLOAT_MEMO: dict[str, float] = {tok: float(tok) for tok in COMMON_VALUES}

_PAIR = _LNAME + r'="[^"\\]*(?:\\.[^"\\]*)*"'
CANON_RE = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:" + _PAIR + r"(?:," + _PAIR + r")*,?)?)\})? "
)
PAIRS_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*(?:\\.[^"\\]*)*)"')


def new_skeleton(key: str) -> Skeleton | None:
    """Validate a new skeleton (see above) and remember it; None if the line needs another path."""
    m = _SKELETON_RE.fullmatch(key)
    if m is None:
        return None
    names = m.group(2)[:-1].split('=",')
    if "__name__" in names or len(set(names)) != len(names):
        return None  # a duplicate name: the general path reports it
    got = (
        intern(m.group(1)),
        tuple(map(intern, names)),
        names.index("le") if "le" in names else -1,
        names.index("quantile") if "quantile" in names else -1,
    )
    if len(SKELETONS) >= _SKELETONS_MAX:
        SKELETONS.clear()
    SKELETONS[key] = got
    return got


def split_labels(line: str, mtype: str) -> tuple[Skeleton, list[str], str] | None:
    """Quick path 1 (see above) for a line without backslashes: (its skeleton, the line split
    at '"' with ``le``/``quantile`` values normalised, the rest after ``"} "``), or None."""
    parts = line.split('"')
    n = len(parts)
    if n < 3 or not n & 1:
        return None
    tail = parts[-1]
    if tail[:2] == "} ":
        rest = tail[2:]
    elif tail[:3] == ",} ":
        rest = tail[3:]
    else:
        return None
    key = '"'.join(parts[0:-1:2])
    sk = SKELETONS.get(key)
    if sk is None:
        sk = new_skeleton(key)
        if sk is None:
            return None
    canonical_bound(parts, sk, mtype)
    return sk, parts, rest


def canonical_bound(parts: list[str], sk: Skeleton, mtype: str) -> None:
    """Rewrite the le (histogram) / quantile (summary) value among ``parts`` (a line split at
    '"') to its canonical float form, as Prometheus 3 does."""
    if mtype == "histogram":
        if sk[2] >= 0:
            i = 2 * sk[2] + 1
            parts[i] = canonical_float_label(parts[i])
    elif mtype == "summary" and sk[3] >= 0:
        i = 2 * sk[3] + 1
        parts[i] = canonical_float_label(parts[i])


def quick_float(tok: str) -> float | None:
    """parse_float(tok), or None where it raises; remembers the first few thousand tokens."""
    v = FLOAT_MEMO.get(tok)
    if v is None:
        try:
            v = parse_float(tok)
        except ValueError:
            return None
        if len(FLOAT_MEMO) < _MEMO_MAX:
            FLOAT_MEMO[tok] = v
    return v


def _split_text(line: str, mtype: str) -> tuple[str, Skeleton, list[str], float, int | None] | None:
    """Quick path 1 for a text-format line without backslashes: (series text, skeleton, the line
    split at '"' without its tail, value, timestamp), or None."""
    got = split_labels(line, mtype)
    if got is None:
        return None
    sk, parts, rest = got
    series = line[: len(line) - len(rest) - 1]
    ts: int | None = None
    if " " in rest:
        rest, _, ttok = rest.partition(" ")
        if not (ttok.isdigit() and len(ttok) < 19):
            return None
        ts = int(ttok)
    value = quick_float(rest)
    if value is None:
        return None
    parts.pop()
    return series, sk, parts, value, ts


def quick_sample(line: str, mtype: str) -> tuple[str, Entry, float, int | None] | None:
    """The quick paths for an ASCII text-format line; None sends it to the general path."""
    got = _split_text(line, mtype) if "\\" not in line else None
    if got is None:
        return regex_sample(line, mtype)
    series, sk, parts, value, ts = got
    labels = tuple(zip(sk[1], parts[1::2]))  # noqa: B905 (same lengths)
    return series, (sk[0], labels), value, ts


def regex_sample(line: str, mtype: str) -> tuple[str, Entry, float, int | None] | None:
    """Quick path 2 (see above)."""
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
    labels = block_labels(block, mtype)
    if labels is None:
        return None
    return series, (m.group(1), labels), value, ts


def block_labels(block: str, mtype: str) -> tuple[Label, ...] | None:
    """The labels of a label block matched by ``CANON_RE`` (le/quantile normalised), or None
    when the general path must decide (``__name__`` inside, duplicate names)."""
    if "__name__=" in block:
        return None  # a duplicate name: the general path reports it
    labels = PAIRS_RE.findall(block)
    if "\\" in block:
        labels = [(k, unescape(v)) for k, v in labels]
    if len(labels) > 1 and len({k for k, _ in labels}) != len(labels):
        return None
    if mtype == "histogram" or mtype == "summary":
        labels = normalize_le_quantile(mtype, labels)
    return tuple(labels)


def parse_sample_line(line: str, lineno: int, mtype: str) -> tuple[str, Entry, float, int | None]:
    """A full, validating parse of one text-format sample line."""
    if line.isascii():
        got = _split_text(line, mtype) if "\\" not in line else None
        if got is not None:
            series, sk, parts, value, ts = got
            labels = tuple(zip(sk[1], parts[1::2]))  # noqa: B905 (same lengths)
            return series, (sk[0], labels), value, ts
        return regex_sample(line, mtype) or general_sample_line(line, lineno, mtype)
    check_utf8(line, "sample line", lineno)
    return general_sample_line(line, lineno, mtype)


def parse_sample_flat(
    line: str, lineno: int, mtype: str, share: Callable[[str, str], str]
) -> tuple[str, CacheEntry, float, int | None]:
    """``parse_sample_line`` and ``compact`` in one step, for the cache of a parser: the same
    result (and the same errors) as ``(series, compact(name, labels, share), value, ts)``,
    without building the label pairs on the quick path."""
    if line.isascii() and "\\" not in line:
        got = _split_text(line, mtype)
        if got is not None:
            series, sk, parts, value, ts = got
            parts[0::2] = sk[1]
            values = parts[1::2]
            parts[1::2] = map(share, values, values)
            return series, (sk[0], tuple(parts)), value, ts
    series, (name, labels), value, ts = parse_sample_line(line, lineno, mtype)
    return series, compact(name, labels, share), value, ts


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
