"""Exposition parser: Prometheus text 0.0.4 and OpenMetrics 1.0, as Prometheus 3 parses them.

One :class:`Parser` per target. It remembers every series text (the raw ``name{labels}`` part
of a sample line) across scrapes, so a line whose series was seen before costs a split, a dict
lookup and a ``float()``. A new text-format series whose line has the common shape (no
backslash, ASCII: ``_parse_text``'s quick path 1) is parsed right in the loop, its series text
being the string just looked up; other new series go through the validating slow path
(``_parse_text`` / ``_parse_om``), which follows Prometheus' lexers; errors name the line. The
result is columns (series text, value, timestamp, exemplar), the series text being the cached
string object, so the next stage's own cache lookups hit by identity. For the text format the
parsed labels of a series are kept only until the next stage asked for them (``series_labels``
parses the text again after that); OpenMetrics entries keep them.

The body may come in pieces (``parse(iterable_of_bytes, ...)``): the scrape loop passes a gzip
body's inflated pieces as they are produced, and the text format is decoded and split a block
of lines at a time, so neither the inflated body nor its decoded text is ever whole in memory.

As in Prometheus 3, ``le`` label values after a histogram TYPE and ``quantile`` values after a
summary TYPE are rewritten to the canonical float form (``"1"`` -> ``"1.0"``).

Differences from Prometheus' parsers, all deliberate:

- a line *starting* with NUL ends a text body, as in Prometheus' lexer, but a raw newline inside
  a quoted label value is an error (Prometheus' text lexer would take it);
- duplicate label names are reported here (Prometheus reports them right after parsing, failing
  the scrape the same way);
- ``Parser(strict=True)`` (``check-metrics --openmetrics``) also enforces the OpenMetrics
  specification's family rules (grouping, counter values, histogram structure, no trailing
  comma) that Prometheus does not; the default accepts what Prometheus accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agent.model import Exemplar, MetricMeta
from agent.scrape._parse_common import ParseError, parse_float, quote
from agent.scrape._parse_om import parse_openmetrics
from agent.scrape._parse_text import (
    COMMON_VALUES,
    SKELETONS,
    canonical_bound,
    expand,
    new_skeleton,
    parse_comment_line,
    parse_sample_flat,
    parse_sample_line,
    quick_float,
)

__all__ = ["ParseError", "ParseResult", "Parser", "detect_format", "Exemplar"]

# The values most samples carry (KSM pages are mostly 0 and 1), and the special spellings
# once validated: a dict hit is cheaper than float() plus the Go-compatibility checks.
_VALUES: dict[str, float] = {tok: float(tok) for tok in COMMON_VALUES}
_VALUES_MAX = 4096
_BY_TEXT = 1 << 62  # Parser._next when the next stage's asks go through Parser._fresh
_BLOCK = 1 << 20  # characters of text split into lines at a time

_PROTOCOLS = {
    "prometheustext0.0.4": "text",
    "prometheustext1.0.0": "text",
    "openmetricstext0.0.1": "openmetrics",
    "openmetricstext1.0.0": "openmetrics",
}


@dataclass(slots=True)
class ParseResult:
    """Samples in exposition order, as columns: ``series[i]`` (the series text, the parser's
    cached string) had ``values[i]``, with timestamp ``stamps[i]`` (ms, or None; ``stamps``
    is None when no sample had one) and exemplar ``exemplars.get(i)``."""

    series: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    stamps: list[int | None] | None = None
    exemplars: dict[int, Exemplar] | None = None
    metadata: dict[str, MetricMeta] = field(default_factory=dict)

    @property
    def samples(self) -> list[tuple[str, float, int | None, Exemplar | None]]:
        """(series text, value, timestamp ms or None, exemplar) per sample (not for hot paths)."""
        stamps = self.stamps or [None] * len(self.series)
        ex = self.exemplars or {}
        return [
            (s, v, t, ex.get(i))
            for i, (s, v, t) in enumerate(zip(self.series, self.values, stamps, strict=True))
        ]

    def set_samples(self, samples: list[tuple[str, float, int | None, Exemplar | None]]) -> None:
        """Fill the columns from (series, value, timestamp, exemplar) tuples."""
        self.series = [s[0] for s in samples]
        self.values = [s[1] for s in samples]
        stamps = [s[2] for s in samples]
        self.stamps = stamps if any(t is not None for t in stamps) else None
        ex = {i: s[3] for i, s in enumerate(samples) if s[3] is not None}
        self.exemplars = ex or None


def detect_format(content_type: str, fallback: str = "PrometheusText0.0.4") -> str:
    """``'openmetrics'`` or ``'text'`` for a response Content-Type, as Prometheus decides.

    ``fallback`` is the job's ``fallback_scrape_protocol`` (a Prometheus protocol name); an
    empty fallback makes a blank or unknown Content-Type an error (:class:`ParseError`).
    """
    mt = content_type.split(";", 1)[0].strip().lower()
    if mt == "application/openmetrics-text":
        return "openmetrics"
    if mt == "text/plain":
        return "text"
    fb = _PROTOCOLS.get(fallback.strip().lower()) if fallback else None
    if fb is None:
        if fallback and fallback.strip().lower() != "prometheusproto":
            raise ParseError(f"unknown fallback scrape protocol {quote(fallback)}", 0)
        if not mt:
            raise ParseError(
                "non-compliant scrape target sending blank Content-Type and no "
                "fallback_scrape_protocol specified for target",
                0,
            )
        raise ParseError(
            f"received unsupported Content-Type {quote(content_type)} and no "
            "fallback_scrape_protocol specified for target",
            0,
        )
    return fb


class Parser:
    """One per target. Caches the parsed form of each series text across scrapes."""

    __slots__ = (
        "_cache",
        "_comments",
        "_format",
        "_fresh",
        "_kept",
        "_last",
        "_new",
        "_next",
        "_parsed",
        "_strings",
        "strict",
    )

    def __init__(self, *, strict: bool = False) -> None:
        """``strict=True`` also enforces the OpenMetrics specification's family-level rules
        (see ``_parse_om``); the scrape path uses the default, which accepts what Prometheus
        accepts."""
        self.strict = strict
        # series text -> what the quick path needs. Text format: the key itself, so samples
        # reference one string per series (and the next stage's lookups hit by identity);
        # its parsed form is kept only while the next stage may ask for it (``_new`` and
        # ``_parsed``, until ``sweep``) or when re-parsing could not give it back (``_kept``:
        # le/quantile values rewritten under a histogram/summary TYPE). OpenMetrics:
        # CacheEntry tuples.
        self._cache: dict[str, Any] = {}
        # The series new in the last parse, in order, and their parsed forms: two lists, not
        # a dict (a first scrape adds ~140k series). The next stage asks for them in the same
        # order (``_next``: the one it should ask for next); ``_fresh`` maps them by text,
        # built the first time it asks out of order (or when a series was parsed twice).
        self._new: list[str] = []
        self._parsed: list[Any] = []
        self._next = 0
        self._fresh: dict[str, Any] | None = None
        self._kept: dict[str, Any] = {}
        self._comments: dict[str, tuple[str, str, str] | None] = {}
        self._strings: dict[str, str] = {}
        self._format = ""
        self._last: list[str] | None = None

    def parse(self, data: bytes | Iterable[bytes], content_type: str) -> ParseResult:
        """Parse a whole body: its bytes, or its pieces in order (cut anywhere; consumed as
        parsing goes, so the whole body need not be in memory at once). ``content_type`` is a
        Content-Type header value, or the result of :func:`detect_format`
        (``'text'``/``'openmetrics'``). Raises only :class:`ParseError` (and whatever the
        pieces' iterator raises)."""
        fmt = content_type if content_type in ("text", "openmetrics") else None
        if fmt is None:
            fmt = detect_format(content_type)
        if fmt != self._format:
            self._cache.clear()
            self._comments.clear()
            self._kept.clear()
            self._format = fmt
        self._new = []
        self._parsed = []
        self._next = 0
        self._fresh = None
        result = ParseResult()
        try:
            if fmt == "openmetrics":
                if not isinstance(data, (bytes, bytearray)):
                    data = b"".join(data)
                text = _decode(data, strict=True)
                om_samples: list[tuple[str, float, int | None, Exemplar | None]] = []
                parse_openmetrics(
                    text, self._cache, om_samples, result.metadata, self.strict, self._strings
                )
                del text
                result.set_samples(om_samples)
            else:
                self._parse_text(_text_blocks(data), result)
        except ParseError:
            raise
        except RecursionError:  # pragma: no cover - defensive
            raise ParseError("exposition too deeply nested", 0) from None
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
            # A bug guard: never leak another exception type to the scrape loop.
            raise ParseError(f"unparseable exposition: {e}", 0) from None
        self._last = result.series
        return result

    def series_labels(self, series: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        """(metric name, labels in exposition order, without ``__name__``) of a series text
        returned by the last :meth:`parse`."""
        if self._format != "text":
            ent = self._cache[series]
            return ent[0], expand(ent[1])
        ent = self._parsed_form(series)
        if ent is not None:
            return ent[0], expand(ent[1])
        if series not in self._cache:
            raise KeyError(series)
        # A series parsed in an earlier scrape whose parsed form was let go: parse it again
        # (validated then; no le/quantile rewrite applied to it, or it would be in _kept).
        _, (name, labels), _, _ = parse_sample_line(series + " 0", 0, "unknown")
        return name, tuple(labels)

    def series_flat(self, series: str) -> tuple[str, tuple[str, ...]]:
        """``series_labels`` without building the pairs: (metric name, labels flattened as
        ``(name1, value1, name2, value2, ...)`` in exposition order, without ``__name__``)."""
        if self._format != "text":
            ent = self._cache[series]
            return ent[0], ent[1]
        got: tuple[str, tuple[str, ...]] | None = self._parsed_form(series)
        if got is not None:
            return got
        name, labels = self.series_labels(series)
        flat: list[str] = []
        for k, v in labels:
            flat.append(k)
            flat.append(v)
        return name, tuple(flat)

    def _parsed_form(self, series: str) -> Any:
        """The parsed form of a text-format series, if still held (see ``__init__``)."""
        i = self._next
        new = self._new
        if i < len(new) and new[i] is series:
            self._next = i + 1
            return self._parsed[i]
        fresh = self._fresh
        if fresh is None:
            fresh = self._fresh = dict(zip(new, self._parsed, strict=True))
            self._next = _BY_TEXT
        return fresh.get(series) or self._kept.get(series)

    def sweep(self) -> None:
        """Drop cached series not seen in the last parse (bounded memory under churn).
        Idempotent until the next parse; the last result is not kept alive after it."""
        last = self._last
        if last is None:
            return
        cache = self._cache
        # Every series of the last parse is cached, so with no more cached series than
        # samples there is nothing to drop (the steady state: no 140k-entry rebuild per
        # scrape). Duplicate series lines can hide as many stale entries as they are: bounded.
        if len(cache) > len(last):
            self._cache = cache = {s: cache[s] for s in last}
            if self._kept:
                self._kept = {k: v for k, v in self._kept.items() if k in cache}
        self._new = []
        self._parsed = []
        self._fresh = None
        self._strings = {}
        self._last = None

    def __len__(self) -> int:
        return len(self._cache)

    # -- text format -------------------------------------------------------------------

    def _parse_text(self, blocks: Iterable[str], result: ParseResult) -> None:
        cache = self._cache
        new_append = self._new.append
        parsed_append = self._parsed.append
        kept = self._kept
        sappend = result.series.append
        values = result.values
        vappend = values.append
        stamps: list[int | None] | None = None
        vals_get = _VALUES.get
        skel_get = SKELETONS.get
        strings = self._strings.setdefault
        old_comments = self._comments
        comments: dict[str, tuple[str, str, str] | None] = {}
        meta: dict[str, list[str]] = {}
        mtype = "unknown"
        cache_get = cache.get
        lineno = 0
        with_ts = False  # did the last quick-path line carry a timestamp? (pages are uniform)
        # The body comes a block of lines at a time (see _text_blocks): a list of every line
        # of a 24 MB page would be ~30 MB more at the scrape's peak. Quick-path samples
        # reference the cached series string, not this line's copy, so lines (and their
        # substrings) die as we go.
        stop = False
        for block in blocks:
            if stop:
                break
            for line in block.split("\n"):
                lineno += 1
                if not line:
                    continue
                if line[0] == "#":
                    if line in old_comments:
                        got = old_comments[line]
                    else:
                        got = parse_comment_line(line, lineno)
                    comments[line] = got
                    if got is not None:
                        kind, fam, arg = got
                        m = meta.get(fam)
                        if m is None:
                            m = meta[fam] = ["unknown", ""]
                        if kind == "TYPE":
                            m[0] = mtype = arg
                        else:
                            m[1] = arg
                    continue
                # Quick path for series seen before: "<series> <value>" / "<series> <value> <ts>",
                # looked up in the shape of the last sample line (pages are uniform). A hit means
                # the text before the value is exactly a validated series text; the value (and
                # timestamp) are still checked on every line.
                rest, _, tok = line.rpartition(" ")
                if with_ts:
                    probe, _, vtok = rest.rpartition(" ")
                    ent = cache_get(probe)
                    if ent is not None:
                        if tok.isdigit() and tok.isascii() and len(tok) < 19:
                            ts: int | None = int(tok)
                        else:
                            ent = None
                else:
                    probe = rest
                    ent = cache_get(rest)
                    vtok, ts = tok, None
                if ent is not None:
                    v = vals_get(vtok)
                    if v is None:
                        try:
                            v = float(vtok)
                        except ValueError:
                            pass
                        else:
                            # Python's float() is laxer than Go's ParseFloat: "_", blanks at
                            # either end, non-ASCII digits; NaN/Inf spellings and overflow need
                            # the full check
                            if (
                                v - v != 0
                                or "_" in vtok
                                or vtok[-1] <= " "
                                or vtok[0] <= " "
                                or not vtok.isascii()
                            ):
                                v = _value(vtok)
                    if v is None:  # a seen series, a value to report: the slow path says why
                        ent = None
                        missed = False
                elif line[0] == "\x00":
                    stop = True
                    break  # Prometheus' lexer ends the input at a NUL in this position
                else:
                    v = None
                    missed = True
                    # Not seen in this shape. When the line takes _parse_text's quick path 1
                    # (no backslash, ASCII: see split_labels) it is parsed here, as
                    # parse_sample_flat would, and its series text is the string just looked
                    # up (hash already computed) or, with the other shape, the one looked up
                    # next (a series seen before after all).
                    if "\\" not in line and line.isascii():
                        parts = line.split('"')
                        tail = parts[-1]
                        cut = 2 if tail[:2] == "} " else 3 if tail[:3] == ",} " else 0
                        nparts = len(parts)
                        if cut and nparts & 1 and nparts > 1:
                            key = '"'.join(parts[0:-1:2])
                            sk = skel_get(key) or new_skeleton(key)
                        else:
                            sk = None
                        if sk is not None:
                            if len(tail) - cut == len(tok):  # no timestamp: the value is tok
                                vtok, ts, series, other = tok, None, rest, with_ts
                            else:
                                vtok, _, ttok = tail[cut:].partition(" ")
                                if ttok.isdigit() and len(ttok) < 19:
                                    ts = int(ttok)
                                    series = probe if with_ts else rest[: -len(vtok) - 1]
                                    other = not with_ts
                                else:
                                    vtok = ""  # not this shape after all: the slow path decides
                            v = vals_get(vtok)
                            if v is None:
                                v = quick_float(vtok)
                            if v is not None:
                                missed = False
                                if other:
                                    with_ts = not with_ts
                                    ent = cache_get(series)
                                if ent is None:
                                    # as parse_sample_flat: labels flat, values shared
                                    parts.pop()
                                    bounds = mtype == "histogram" or mtype == "summary"
                                    if bounds:
                                        canonical_bound(parts, sk, mtype)
                                    parts[0::2] = sk[1]
                                    vals = parts[1::2]
                                    parts[1::2] = map(strings, vals, vals)
                                    parsed = (sk[0], tuple(parts))
                                    if bounds:
                                        kept[series] = parsed
                                    new_append(series)
                                    parsed_append(parsed)
                                    cache[series] = ent = series
                if v is None:
                    if missed:
                        # A line of another shape or form: look it up in the other shape, as
                        # the quick path did before the slow path
                        if with_ts:
                            ent = cache_get(rest)
                            vtok, ts = tok, None
                        else:
                            probe, _, vtok = rest.rpartition(" ")
                            ent = cache_get(probe)
                            if ent is not None:
                                if tok.isdigit() and tok.isascii() and len(tok) < 19:
                                    ts = int(tok)
                                else:
                                    ent = None
                        if ent is not None:
                            v = vals_get(vtok)
                            if v is None:
                                v = _quick_value(vtok)
                            if v is None:
                                ent = None
                            else:
                                with_ts = not with_ts
                    if v is None:
                        # The general slow path. A first scrape holds every series' labels at
                        # once (until the next stage has them): share repeated strings (label
                        # names, namespaces, pod names, uids ...) and keep them flat (see
                        # compact); -70 MB at a KSM page's peak.
                        series, parsed, v, ts = parse_sample_flat(line, lineno, mtype, strings)
                        if series in cache:
                            # parsed again (a known series in another form): the next stage
                            # gets the last parse, by text
                            self._next = _BY_TEXT
                        new_append(series)
                        parsed_append(parsed)
                        if mtype == "histogram" or mtype == "summary":
                            kept[series] = parsed
                        cache[series] = ent = series
                if ts is not None:
                    if stamps is None:
                        stamps = result.stamps = [None] * len(values)
                    stamps.append(ts)
                elif stamps is not None:
                    stamps.append(None)
                sappend(ent)  # type: ignore[arg-type]  # a cache hit or the new text
                vappend(v)
        self._comments = comments
        if meta:
            result.metadata = {k: MetricMeta(type=t, help=h) for k, (t, h) in meta.items()}


def _quick_value(tok: str) -> float | None:
    """The quick path's value check (inline in ``Parser._parse_text``): the float, or None to
    leave the line to the slow path."""
    try:
        v = float(tok)
    except ValueError:
        return None
    if v - v != 0 or "_" in tok or tok[-1] <= " " or tok[0] <= " " or not tok.isascii():
        return _value(tok)
    return v


def _value(tok: str) -> float | None:
    """Validated float for the quick path, or None to fall back to the slow path."""
    try:
        v = parse_float(tok)
    except ValueError:
        return None
    if len(_VALUES) < _VALUES_MAX:
        _VALUES[tok] = v
    return v


def _line_blocks(data: bytes | Iterable[bytes]) -> Iterator[bytes]:
    """The body in blocks of whole lines of about ``_BLOCK`` bytes (the last may end without a
    newline). ``data`` is the whole body, or its pieces in order, cut anywhere."""
    if isinstance(data, (bytes, bytearray)):
        size = len(data)
        pos = 0
        while pos < size:
            end = data.find(b"\n", pos + _BLOCK)
            end = size if end < 0 else end + 1
            yield data[pos:end]
            pos = end
        return
    tail = b""
    for chunk in data:
        if not chunk:
            continue
        buf = tail + chunk if tail else chunk
        if len(buf) < _BLOCK:
            tail = buf
            continue
        cut = buf.rfind(b"\n") + 1
        if cut == 0:  # one very long line so far
            tail = buf
            continue
        yield buf[:cut]
        tail = buf[cut:]
    if tail:
        yield tail


def _text_blocks(data: bytes | Iterable[bytes]) -> Iterator[str]:
    """Text-format blocks decoded as Prometheus reads them (invalid UTF-8 kept as is, as
    surrogates: the label checks report it with the line)."""
    for block in _line_blocks(data):
        text = block.decode("utf-8", "surrogateescape")
        # a block ends with its newline; drop it so splitting gives no empty last line
        yield text[:-1] if text.endswith("\n") else text


def _decode(data: bytes, strict: bool) -> str:
    try:
        return data.decode("utf-8", "strict" if strict else "surrogateescape")
    except UnicodeDecodeError as e:
        lineno = data.count(b"\n", 0, e.start) + 1
        raise ParseError(f"invalid UTF-8 at byte {e.start}", lineno) from None
