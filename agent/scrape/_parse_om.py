"""OpenMetrics 1.0 text format.

Syntax follows Prometheus' ``openmetricslex.l`` (single spaces, ``# EOF``, float-second
timestamps, exemplars); by default that is all that is checked, as in Prometheus. In strict mode
the family-level rules of the OpenMetrics specification are enforced too, as the official test
suite (OpenObservability/OpenMetrics tests/testdata/parsers) requires: metadata before samples and never repeated, no clashing family names, sample names
allowed for the family type, grouping and timestamp order, counter-like values non-negative and
not NaN, ``le``/``quantile`` validity, histogram bucket order and ``_count``/``_sum`` presence,
info/stateset values, exemplars only on ``_total`` and ``_bucket`` samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from agent.model import Exemplar, MetricMeta
from agent.scrape._parse_common import Label, ParseError, parse_float, quote, unescape
from agent.scrape._parse_labels import read_family_name, scan_label_block
from agent.scrape._parse_text import (
    CANON_RE,
    FLOAT_MEMO,
    CacheEntry,
    Entry,
    Skeleton,
    block_labels,
    compact,
    expand,
    normalize_le_quantile,
    parse_series,
    quick_float,
    split_labels,
)

OM_TYPES = frozenset(
    ("counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown")
)
TYPE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "histogram": ("_count", "_sum", "_bucket", "_created"),
    "gaugehistogram": ("_gcount", "_gsum", "_bucket"),
    "info": ("_info",),
}
_NONNEG = frozenset(("_total", "_sum", "_count", "_bucket", "_gcount"))
_NOT_NAN = frozenset(("_total", "_sum", "_count", "_bucket", "_gcount", "_gsum"))
_INF = math.inf

Sample = tuple[str, float, int | None, Exemplar | None]
OmCacheEntry = tuple[str, tuple[str, ...], str]  # name, flat labels, series text


def _ts_seconds(tok: str, what: str, lineno: int) -> float:
    try:
        ts = parse_float(tok)
    except ValueError as e:
        raise ParseError(f"{e} as {what}", lineno) from None
    if ts != ts or ts in (_INF, -_INF):
        raise ParseError(f"invalid {what} {quote(tok)}", lineno)
    return ts


def _parse_exemplar(ex: str, lineno: int, strict: bool) -> Exemplar:
    """``{labels} value [timestamp]`` (the part after ``' # '``)."""
    if not ex.startswith("{"):
        raise ParseError(f"invalid exemplar {quote(ex)}: expected '{{'", lineno)
    end, name, labels = scan_label_block(ex, 0, True, lineno, None, strict)
    if name is not None:
        raise ParseError(f"invalid exemplar {quote(ex)}: quoted name without value", lineno)
    names = [ln for ln, _ in labels]
    if len(set(names)) != len(names):
        raise ParseError(f"duplicate label name in exemplar {quote(ex)}", lineno)
    if strict and sum(len(a) + len(b) for a, b in labels) > 128:
        raise ParseError("exemplar labels exceed 128 characters", lineno)
    rest = ex[end:]
    if not rest.startswith(" "):
        raise ParseError(f"expected value after exemplar labels in {quote(ex)}", lineno)
    parts = rest[1:].split(" ")
    if len(parts) > 2 or not parts[0]:
        raise ParseError(f"invalid exemplar value/timestamp {quote(rest)}", lineno)
    try:
        value = parse_float(parts[0])
    except ValueError as e:
        raise ParseError(f"{e} as exemplar value", lineno) from None
    ts_ms: int | None = None
    if len(parts) == 2:
        ts_ms = int(_ts_seconds(parts[1], "exemplar timestamp", lineno) * 1000)
    return Exemplar(labels=tuple(sorted(labels)), value=value, timestamp_ms=ts_ms)


def quick_om_sample_line(
    line: str, mtype: str
) -> tuple[str, Entry, float, float | None, None] | None:
    """The common shape ``name{a="b",...} value[ timestamp]`` (no exemplar) by the quick paths
    of the text format; None for anything else, which the general path then parses (same
    result)."""
    got = _split_om(line, mtype) if "\\" not in line else None
    if got is None:
        return _regex_om_sample_line(line, mtype)
    series, sk, parts, value, ts = got
    labels = tuple(zip(sk[1], parts[1::2]))  # noqa: B905 (same lengths)
    return series, (sk[0], labels), value, ts, None


def _split_om(line: str, mtype: str) -> tuple[str, Skeleton, list[str], float, float | None] | None:
    """Quick path 1 of the text format (``split_labels``) plus an OpenMetrics value and
    timestamp: (series text, skeleton, the line split at '"' without its tail, value, ts)."""
    got = split_labels(line, mtype)
    if got is None:
        return None
    sk, parts, rest = got
    series = line[: len(line) - len(rest) - 1]
    vtok, sep, ttok = rest.partition(" ")
    value = quick_float(vtok)
    if value is None:
        return None
    ts: float | None = None
    if sep:
        ts = _quick_float(ttok)
        if ts is None or ts != ts or ts in (_INF, -_INF) or " " in ttok:
            return None
    parts.pop()
    return series, sk, parts, value, ts


def _regex_om_sample_line(
    line: str, mtype: str
) -> tuple[str, Entry, float, float | None, None] | None:
    """Quick path 2 of the text format (two regex calls) with an OpenMetrics value and ts."""
    m = CANON_RE.match(line)
    if m is None:
        return None
    end = m.end()
    vtok, sep, ttok = line[end:].partition(" ")
    try:
        value = parse_float(vtok)
        ts = parse_float(ttok) if sep else None
    except ValueError:
        return None
    if ts is not None and (ts != ts or ts in (_INF, -_INF) or " " in ttok):
        return None
    block = m.group(2)
    if not block:
        return line[: end - 1], (m.group(1), ()), value, ts, None
    labels = block_labels(block, mtype)
    if labels is None:
        return None
    return line[: end - 1], (m.group(1), labels), value, ts, None


def parse_om_sample_line(
    line: str, lineno: int, mtype: str, strict: bool
) -> tuple[str, Entry, float, float | None, Exemplar | None]:
    """Full parse of one OpenMetrics sample line: (series, entry, value, ts seconds, exemplar)."""
    if not strict:
        got = quick_om_sample_line(line, mtype)
        if got is not None:
            return got
    return general_om_sample_line(line, lineno, mtype, strict)


def parse_om_sample_flat(
    line: str, lineno: int, mtype: str, strict: bool, share: Callable[[str, str], str]
) -> tuple[str, CacheEntry, float, float | None, Exemplar | None]:
    """:func:`parse_om_sample_line` with the labels compacted for the cache: the same result
    (and errors) as ``compact(name, labels, share)`` on its entry, without the label pairs on
    the quick path."""
    if not strict and "\\" not in line:
        got = _split_om(line, mtype)
        if got is not None:
            series, sk, parts, value, ts = got
            parts[0::2] = sk[1]
            values = parts[1::2]
            parts[1::2] = map(share, values, values)
            return series, (sk[0], tuple(parts)), value, ts, None
    series, (name, labels), value, ts, ex = parse_om_sample_line(line, lineno, mtype, strict)
    return series, compact(name, labels, share), value, ts, ex


def general_om_sample_line(
    line: str, lineno: int, mtype: str, strict: bool
) -> tuple[str, Entry, float, float | None, Exemplar | None]:
    """The character-level parse of an OpenMetrics sample line."""
    start, i, name, labels = parse_series(line, lineno, True, strict)
    series = line[start:i]
    rest = line[i:]
    if not rest.startswith(" "):
        raise ParseError(f"expected ' ' and a value after {quote(series)}", lineno)
    vtok, sep, more = rest[1:].partition(" ")
    try:
        value = parse_float(vtok)
    except ValueError as e:
        raise ParseError(f"{e} as value of {quote(series)}", lineno) from None
    ts: float | None = None
    ex: Exemplar | None = None
    if sep:
        if more.startswith("# "):
            ex = _parse_exemplar(more[2:], lineno, strict)
        else:
            ttok, sep2, more2 = more.partition(" ")
            ts = _ts_seconds(ttok, "timestamp", lineno)
            if sep2:
                if not more2.startswith("# "):
                    raise ParseError(f"unexpected text after timestamp {quote(more2)}", lineno)
                ex = _parse_exemplar(more2[2:], lineno, strict)
    if strict and mtype in ("histogram", "gaugehistogram") and name.endswith("_bucket"):
        for ln, lv in labels:
            if ln == "le" and lv != "+Inf" and lv.lstrip("+").lower() in ("inf", "infinity"):
                raise ParseError(f"non-canonical le label {quote(lv)} (must be +Inf)", lineno)
    labels = normalize_le_quantile(mtype, labels)
    return series, (name, tuple(labels)), value, ts, ex


def _parse_meta(line: str, lineno: int) -> tuple[str, str, str]:
    """``# HELP|TYPE|UNIT name text`` -> (kind, family, text)."""
    kind = line[2:7]
    if line[:2] != "# " or kind not in ("HELP ", "TYPE ", "UNIT "):
        raise ParseError(f"invalid line {quote(line)}: not HELP, TYPE, UNIT or EOF", lineno)
    kind = kind[:4]
    fam, i = read_family_name(line, 7, kind, lineno)
    if i >= len(line) or line[i] != " ":
        raise ParseError(f"expected text in {kind} for {quote(fam)}", lineno)
    return kind, fam, line[i + 1 :]


class _Family:
    __slots__ = (
        "name",
        "type",
        "help",
        "unit",
        "has_meta",
        "allowed",
        "nsamples",
        "group",
        "group_ts",
        "seen_groups",
        "hist",
    )

    def __init__(self, name: str, typ: str | None) -> None:
        self.name = name
        self.type = typ
        self.help: str | None = None
        self.unit: str | None = None
        self.has_meta = typ is not None
        self.allowed: dict[str, str] = {name: ""}
        self.nsamples = 0
        self.group: Any = None
        self.group_ts: float | None = None
        self.seen_groups: set[Any] = set()
        self.hist: list[tuple[str, Any, float | None, float, float]] = []

    def set_type(self, typ: str) -> None:
        self.type = typ
        self.allowed = {self.name + s: s for s in TYPE_SUFFIXES.get(typ, ("",))}


def _check_histogram(fam: _Family, lineno: int) -> None:
    """Bucket order, +Inf bucket, _count == +Inf bucket, _count/_sum presence, per group."""
    name = fam.name
    group: Any = None
    ts: float | None = None
    st: dict[str, Any] = {}

    def fail(msg: str) -> None:
        raise ParseError(f"histogram {quote(name)}: {msg}", lineno)

    def finish() -> None:
        if st["bucket"] != _INF:
            fail("+Inf bucket missing")
        if st["count"] is not None and st["value"] != st["count"]:
            fail("count does not match the +Inf bucket")
        if st["sum"] and st["count"] is None:
            fail("_count must be present if _sum is present")
        if st["gsum"] and st["count"] is None:
            fail("_gcount must be present if _gsum is present")
        if not (st["sum"] or st["gsum"]) and st["count"] is not None:
            fail("_sum/_gsum must be present if _count is present")
        if st["neg"] and st["sum"]:
            fail("cannot have _sum with negative buckets")
        if not st["neg"] and st["neggsum"]:
            fail("cannot have negative _gsum with non-negative buckets")

    for suffix, g, sts, le, value in fam.hist:
        if g != group or sts != ts or not st:
            if st:
                finish()
            st = {"count": None, "bucket": None, "neg": False, "sum": False, "gsum": False,
                  "neggsum": False, "value": 0.0}  # fmt: skip
        group, ts = g, sts
        if suffix == "_bucket":
            if le < 0:
                st["neg"] = True
            if st["bucket"] is not None and le <= st["bucket"]:
                fail("buckets out of order")
            if value < st["value"]:
                fail("bucket values out of order")
            st["bucket"] = le
            st["value"] = value
        elif suffix in ("_count", "_gcount"):
            st["count"] = value
        elif suffix == "_sum":
            st["sum"] = True
        elif suffix == "_gsum":
            st["gsum"] = True
            if value < 0:
                st["neggsum"] = True
    if st:
        finish()


def parse_openmetrics(
    text: str,
    cache: dict[str, OmCacheEntry],
    samples: list[Sample],
    metadata: dict[str, MetricMeta],
    strict: bool = False,
    strings: dict[str, str] | None = None,
) -> None:
    """Parse a whole OpenMetrics body into ``samples``/``metadata``, filling ``cache``.

    Without ``strict`` only what Prometheus' OpenMetrics parser rejects is an error (syntax,
    ``# EOF``, metric types, UNIT suffix, timestamps); with ``strict`` the family-level rules
    of the OpenMetrics specification are enforced too (``check-metrics --openmetrics``).
    """
    if text.endswith("\n"):
        text = text[:-1]
    lines = text.split("\n")
    last = len(lines)
    seen_names: set[str] = set()
    fam: _Family | None = None
    append = samples.append
    cache_get = cache.get
    floats_get = FLOAT_MEMO.get
    share = (strings if strings is not None else {}).setdefault
    mtype = "unknown"

    def finish(f: _Family, lineno: int) -> None:
        typ = f.type or "unknown"
        if not strict:
            if f.has_meta:
                old = metadata.get(f.name)
                if old is not None:  # Prometheus does not mind split families
                    f.type = f.type or old.type
                    f.help = f.help if f.help is not None else old.help
                    f.unit = f.unit if f.unit is not None else old.unit
                metadata[f.name] = MetricMeta(
                    type=f.type or "unknown", help=f.help or "", unit=f.unit or ""
                )
            return
        for suffix in set(TYPE_SUFFIXES.get(typ, ()) + ("",)):
            if f.name + suffix in seen_names:
                raise ParseError(f"clashing metric family name {quote(f.name + suffix)}", lineno)
            seen_names.add(f.name + suffix)
        if f.unit:
            if not f.name.endswith("_" + f.unit):
                raise ParseError(f"unit {quote(f.unit)} is not a suffix of {quote(f.name)}", lineno)
            if typ in ("info", "stateset"):
                raise ParseError(f"unit not allowed for {typ} {quote(f.name)}", lineno)
        if typ in ("histogram", "gaugehistogram"):
            _check_histogram(f, lineno)
        if f.has_meta:
            metadata[f.name] = MetricMeta(type=typ, help=f.help or "", unit=f.unit or "")

    lineno = 0
    for line in lines:
        lineno += 1
        if not line:
            raise ParseError("blank line (not allowed in OpenMetrics)", lineno)
        if line[0] == "#":
            if line == "# EOF":
                if lineno != last:
                    raise ParseError("unexpected data after # EOF", lineno + 1)
                break
            kind, name, arg = _parse_meta(line, lineno)
            if kind == "UNIT" and arg and not name.endswith("_" + arg):
                raise ParseError(
                    f"unit {quote(arg)} is not a suffix of metric {quote(name)}", lineno
                )
            if fam is not None and name == fam.name:
                if fam.nsamples and strict:
                    raise ParseError(f"{kind} for {quote(name)} after its samples", lineno)
            else:
                if fam is not None:
                    finish(fam, lineno)
                fam = _Family(name, None)
            fam.has_meta = True
            if kind == "TYPE":
                if fam.type is not None and strict:
                    raise ParseError(f"more than one TYPE for {quote(name)}", lineno)
                if arg not in OM_TYPES:
                    raise ParseError(f"invalid metric type {quote(arg)}", lineno)
                fam.set_type(arg)
                mtype = arg
            elif kind == "HELP":
                if fam.help is not None and strict:
                    raise ParseError(f"more than one HELP for {quote(name)}", lineno)
                fam.help = unescape(arg)
            else:
                if fam.unit is not None and strict:
                    raise ParseError(f"more than one UNIT for {quote(name)}", lineno)
                fam.unit = arg
            continue

        # A sample. Quick path: "<cached series> <value>" or "<cached series> <value> <ts>".
        # Cache entries are (name, flat labels, series text): samples reference the cached
        # series string, not a new copy per scrape.
        ts: float | None = None
        ex: Exemplar | None = None
        rest, _, tok = line.rpartition(" ")
        ent = cache_get(rest)
        value = None
        if ent is not None:
            value = floats_get(tok)
            if value is None:
                value = _quick_float(tok)
        else:
            series, _, vtok = rest.rpartition(" ")
            ent = cache_get(series)
            if ent is not None:
                value = floats_get(vtok)
                if value is None:
                    value = _quick_float(vtok)
                tsv = _quick_float(tok)
                if tsv is None or tsv != tsv or tsv in (_INF, -_INF):
                    value = None
                ts = tsv
        if value is None or ent is None:
            series, (name0, flat0), value, ts, ex = parse_om_sample_flat(
                line, lineno, mtype, strict, share
            )
            ent = cache[series] = (name0, flat0, series)
        if not strict:
            append((ent[2], value, None if ts is None else int(ts * 1000), ex))
            continue
        name, labels = ent[0], expand(ent[1])

        if fam is None or name not in fam.allowed:
            if fam is not None:
                if fam.type is not None and not fam.nsamples and name.startswith(fam.name):
                    want = " or ".join(quote(n) for n in fam.allowed)
                    raise ParseError(
                        f"sample {quote(name)} does not fit {fam.type} family "
                        f"{quote(fam.name)} (expected {want})",
                        lineno,
                    )
                finish(fam, lineno)
            fam = _Family(name, None)
        suffix = fam.allowed[name]
        typ = fam.type or "unknown"
        fam.nsamples += 1
        _check_sample(fam, typ, suffix, name, labels, value, ts, ex, line, lineno)
        append((ent[2], value, None if ts is None else int(ts * 1000), ex))
    else:
        raise ParseError("data does not end with # EOF", lineno)
    if fam is not None:
        finish(fam, lineno)


def _quick_float(tok: str) -> float | None:
    try:
        return parse_float(tok)
    except ValueError:
        return None


def _label(labels: tuple[Label, ...], key: str) -> str | None:
    for ln, lv in labels:
        if ln == key:
            return lv
    return None


def _without(labels: tuple[Label, ...], key: str) -> tuple[Label, ...]:
    return tuple(sorted(kv for kv in labels if kv[0] != key))


def _check_sample(
    fam: _Family,
    typ: str,
    suffix: str,
    name: str,
    labels: tuple[Label, ...],
    value: float,
    ts: float | None,
    ex: Exemplar | None,
    line: str,
    lineno: int,
) -> None:
    fail: Callable[[str], ParseError] = lambda msg: ParseError(  # noqa: E731
        f"{msg} in {quote(line, 80)}", lineno
    )
    le = 0.0
    if typ == "stateset":
        if _label(labels, fam.name) is None:
            raise fail(f"stateset sample without a {quote(fam.name)} label")
        if value != 0 and value != 1:
            raise fail("stateset samples can only have values 0 and 1")
        g: Any = _without(labels, fam.name)
    elif typ == "info":
        if value != 1:
            raise fail("info samples can only have value 1")
        g = ()
    elif typ == "summary" and suffix == "":
        q = _label(labels, "quantile")
        try:
            qf = parse_float(q) if q is not None else -1.0
        except ValueError:
            qf = -1.0
        if not 0 <= qf <= 1:
            raise fail("invalid or missing quantile label")
        if value < 0:
            raise fail("quantile values cannot be negative")
        g = _without(labels, "quantile")
    elif suffix == "_bucket":
        lv = _label(labels, "le")
        try:
            le = parse_float(lv) if lv is not None else math.nan
        except ValueError:
            le = math.nan
        if le != le or (le == _INF and lv != "+Inf"):
            raise fail("invalid or missing le label")
        g = _without(labels, "le")
    else:
        g = tuple(sorted(labels))
    if suffix in _NOT_NAN and value != value:
        raise fail("counter-like samples cannot be NaN")
    if suffix in _NONNEG and value < 0:
        raise fail("counter-like samples cannot be negative")
    if ex is not None and not (
        (suffix == "_bucket" and typ in ("histogram", "gaugehistogram"))
        or (suffix == "_total" and typ == "counter")
    ):
        raise fail("exemplars are only allowed on histogram buckets and counter totals")
    group = fam.group
    if group is not None and g != group and g in fam.seen_groups:
        raise fail("samples of a metric group are not together")
    if group is not None and g == group:
        gts = fam.group_ts
        if (ts is None) != (gts is None):
            raise fail("mix of samples with and without timestamp in a group")
        if gts is not None and ts is not None and gts > ts and typ != "info":
            raise fail("timestamps went backwards within a group")
    fam.group = g
    fam.group_ts = ts
    fam.seen_groups.add(g)
    if typ in ("histogram", "gaugehistogram") and suffix in (
        "_bucket", "_count", "_sum", "_gcount", "_gsum"
    ):  # fmt: skip
        fam.hist.append((suffix, g, ts, le, value))
