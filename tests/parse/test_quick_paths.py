"""The quick paths of the sample-line parsers give exactly what the general scanners give.

``_parse_text`` and ``_parse_om`` parse a new series by splitting the line at '"' and looking up
its label-name skeleton (quick path 1), by two regex calls (quick path 2), or character by
character (the general path, which follows Prometheus' lexers). Lines are generated with label
names that are valid, invalid, duplicated or ``__name__``, values with escapes, raw quotes,
unicode and separators, ``le``/``quantile`` values in many spellings, odd blanks, values and
timestamps valid or not; every entry point must agree with the general path on every line: the
same result, or the same error (message and line number).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.scrape._parse_common import ParseError, format_om_float, parse_float
from agent.scrape._parse_om import (
    general_om_sample_line,
    parse_om_sample_flat,
    parse_om_sample_line,
    quick_om_sample_line,
)
from agent.scrape._parse_text import (
    _SKELETONS_MAX,
    canonical_float_label,
    compact,
    general_sample_line,
    parse_sample_flat,
    parse_sample_line,
    quick_float,
    quick_sample,
    split_labels,
)
from agent.scrape.parse import Parser

MTYPES = ["unknown", "gauge", "histogram", "summary", "gaugehistogram"]
FLOATS = ["0", "1", "1.0", "0.5", "-2e-3", "1e3", "+Inf", "inf", "-Inf", "NaN", "nan", "01",
          "1e400", "0x1", "1_0", "", " 1", "1 ", "abc", "+NaN", ".5", "5.", "\u0661"]  # fmt: skip
NAMES = ["m", "m_bucket", "ns:sub_total", "_x", "A9", "9bad", "a.b", "é", ""]
LNAMES = ["a", "le", "quantile", "job", "x_1", "_", "B", "__name__", "1a", "a-b", "", "é"]
VALUE_CHARS = list('ab,={} \t\r"\\n01.+-eI') + ["é", "世", "\x00", "\x7f"]


def escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@st.composite
def sample_lines(draw: st.DrawFn) -> str:
    """Mostly well-formed sample lines, with now and then a defect somewhere."""
    odd = draw(st.integers(0, 9)) == 0  # one line in ten gets a syntactic oddity

    def some(common: str, *others: str) -> str:
        return draw(st.sampled_from(others)) if odd and draw(st.booleans()) else common

    name = draw(st.sampled_from(NAMES[:5])) if not odd else draw(st.sampled_from(NAMES))
    pairs = []
    lnames = st.sampled_from(LNAMES[:7] if not odd else LNAMES)
    for ln in draw(st.lists(lnames, max_size=5, unique=not odd)):
        if ln in ("le", "quantile") and draw(st.booleans()):
            lv = draw(st.sampled_from(FLOATS))
        else:
            lv = draw(st.text(st.sampled_from(VALUE_CHARS), max_size=8))
        if not (odd and draw(st.booleans())):
            lv = escape(lv)
        pairs.append(f'{ln}="{lv}"')
    line = name
    if pairs or draw(st.integers(0, 4)) == 0:
        sep = some(",", ", ", "", ",,", " ,")
        line += some("{", " {", "{ ") + sep.join(pairs) + some("", ",", " ") + some("}", "} ", "")
    line += some(" ", "\t", "  ", "") + draw(st.sampled_from(FLOATS[:10] if not odd else FLOATS))
    if draw(st.booleans()):
        ts = some("1700000000000", "1.5", "-5", "99999999999999999999", "\u0661")
        line += some(" ", "\t", "  ") + ts
    return line + some("", " ", "\r", ' # {a="b"} 1')


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[str, str]:
    try:
        return "ok", repr(fn(*args))
    except ParseError as e:
        return "error", str(e)


def _text_compacted(line: str, mtype: str) -> tuple[Any, ...]:
    strings: dict[str, str] = {}
    series, (name, labels), value, ts = general_sample_line(line, 7, mtype)
    return series, compact(name, labels, strings.setdefault), value, ts


def _om_compacted(line: str, mtype: str) -> tuple[Any, ...]:
    strings: dict[str, str] = {}
    series, (name, labels), value, ts, ex = general_om_sample_line(line, 7, mtype, False)
    return series, compact(name, labels, strings.setdefault), value, ts, ex


@settings(max_examples=1500, derandomize=True, deadline=None)
@given(sample_lines(), st.sampled_from(MTYPES))
def test_text_entry_points_equal_the_general_path(line: str, mtype: str) -> None:
    want = outcome(general_sample_line, line, 7, mtype)
    for _ in range(2):  # the second time, the line's skeleton is known
        assert outcome(parse_sample_line, line, 7, mtype) == want, line
        if line.isascii():
            got = quick_sample(line, mtype)
            assert got is None or ("ok", repr(got)) == want, line
        strings: dict[str, str] = {}
        flat = outcome(parse_sample_flat, line, 7, mtype, strings.setdefault)
        assert flat == outcome(_text_compacted, line, mtype), line


@settings(max_examples=1500, derandomize=True, deadline=None)
@given(sample_lines(), st.sampled_from(MTYPES))
def test_openmetrics_entry_points_equal_the_general_path(line: str, mtype: str) -> None:
    want = outcome(general_om_sample_line, line, 7, mtype, False)
    for _ in range(2):
        assert outcome(parse_om_sample_line, line, 7, mtype, False) == want, line
        got = quick_om_sample_line(line, mtype)
        assert got is None or ("ok", repr(got)) == want, line
        strings: dict[str, str] = {}
        flat = outcome(parse_om_sample_flat, line, 7, mtype, False, strings.setdefault)
        assert flat == outcome(_om_compacted, line, mtype), line
    strict = outcome(general_om_sample_line, line, 7, mtype, True)
    assert outcome(parse_om_sample_line, line, 7, mtype, True) == strict, line


def test_generated_lines_take_every_path() -> None:
    """The generator above reaches quick path 1, quick path 2, and errors."""
    split = regex = errors = 0
    for line in _examples(400):
        if outcome(general_sample_line, line, 1, "histogram")[0] == "error":
            errors += 1
        elif "\\" not in line and split_labels(line, "histogram") is not None:
            split += 1
        elif line.isascii() and quick_sample(line, "histogram") is not None:
            regex += 1
    assert split > 100 and regex > 10 and errors > 20, (split, regex, errors)


def _examples(n: int) -> list[str]:
    out: list[str] = []

    @settings(max_examples=n, derandomize=True, deadline=None, database=None)
    @given(sample_lines())
    def collect(line: str) -> None:
        out.append(line)

    collect()
    return out


def test_flat_entries_share_strings_and_intern_names() -> None:
    strings: dict[str, str] = {}
    line = 'kube_pod_info{namespace="default",pod="api-1",node="n1"} 1'
    _, (name, flat), value, ts = parse_sample_flat(line, 1, "gauge", strings.setdefault)
    assert (name, flat, value, ts) == (
        "kube_pod_info",
        ("namespace", "default", "pod", "api-1", "node", "n1"),
        1.0,
        None,
    )
    assert name is sys.intern("kube_pod_info")
    assert all(k is sys.intern(k) for k in flat[0::2])
    assert all(v is strings[v] for v in flat[1::2])
    _, (_, flat2), _, _ = parse_sample_flat(line.replace("api-1", "api-2"), 2, "gauge",
                                            strings.setdefault)  # fmt: skip
    assert flat2[1] is flat[1] and flat2[5] is flat[5]  # one "default", one "n1"


def test_le_and_quantile_are_normalised_only_for_their_type() -> None:
    line = 'm{le="1",quantile="0.50",x="1"} 3'
    labels = {t: parse_sample_line(line, 1, t)[1][1] for t in ("histogram", "summary", "gauge")}
    assert labels["histogram"] == (("le", "1.0"), ("quantile", "0.50"), ("x", "1"))
    assert labels["summary"] == (("le", "1"), ("quantile", "0.5"), ("x", "1"))
    assert labels["gauge"] == (("le", "1"), ("quantile", "0.50"), ("x", "1"))


def test_canonical_float_label_and_quick_float() -> None:
    for tok in FLOATS + ["1e-7", "123456789", "0.000001", "-0", "1E+06"]:
        try:
            want = format_om_float(parse_float(tok))
        except ValueError:
            want = tok
        assert canonical_float_label(tok) == want
        assert canonical_float_label(tok) == want  # remembered
        try:
            wantf: float | None = parse_float(tok)
        except ValueError:
            wantf = None
        assert repr(quick_float(tok)) == repr(wantf)
        assert repr(quick_float(tok)) == repr(wantf)


def test_more_skeletons_than_remembered() -> None:
    """Past the bound the skeleton memo starts again; results do not change."""
    lines = [f'm{{l{i}="v",le="{i}"}} {i}' for i in range(_SKELETONS_MAX + 50)]
    for line in lines + lines[:100]:
        assert repr(parse_sample_line(line, 1, "histogram")) == repr(
            general_sample_line(line, 1, "histogram")
        )


def test_openmetrics_samples_reference_the_cached_series() -> None:
    page = b'# TYPE m gauge\nm{a="1"} 1\nm{a="2"} 2 1.5\n# EOF\n'
    p = Parser()
    first = p.parse(page, "openmetrics").samples
    second = p.parse(page, "openmetrics").samples
    assert [s[:3] for s in second] == [('m{a="1"}', 1.0, None), ('m{a="2"}', 2.0, 1500)]
    assert all(a[0] is b[0] for a, b in zip(first, second, strict=True))
    assert p.series_labels('m{a="2"}') == ("m", (("a", "2"),))
