"""A series never seen before is parsed inside ``Parser._parse_text``'s loop when its line takes
quick path 1 (no backslash, ASCII), and by ``parse_sample_flat`` otherwise; a series seen before
is a cache hit, in the shape of the previous sample line (with or without a timestamp) or the
other one. Whatever the path, a page must give what parsing each of its lines on its own with
the slow path (``parse_sample_line``) gives: the same samples, labels and first error.

Pages are generated from the sample lines of ``test_quick_paths`` (escapes, duplicate labels,
``le``/``quantile`` spellings, blanks, timestamps, bad values), with TYPE/HELP lines, other
comments and blank lines between them, and series repeated in the same or another shape; then
parsed again, and a changed page parsed by the same parser.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.scrape._parse_common import ParseError
from agent.scrape._parse_text import parse_comment_line, parse_sample_line
from agent.scrape.parse import Parser
from tests.parse.test_quick_paths import sample_lines

Labels = tuple[tuple[str, str], ...]
Row = tuple[str, str, int | None]  # series text, repr(value), timestamp


def reference(lines: list[str]) -> tuple[list[Row], dict[str, tuple[str, Labels]], str | None]:
    """Rows, labels by series text and the error of a page, line by line with the slow path.
    (Pages below never repeat a series text under another TYPE, so the first parse of a series
    and any later one agree.)"""
    mtype = "unknown"
    rows: list[Row] = []
    labels: dict[str, tuple[str, Labels]] = {}
    try:
        for no, line in enumerate(lines, 1):
            if not line:
                continue
            if line[0] == "#":
                got = parse_comment_line(line, no)
                if got is not None and got[0] == "TYPE":
                    mtype = got[2]
                continue
            if line[0] == "\x00":
                break  # the end of the input, as in Prometheus' lexer
            series, (name, pairs), value, ts = parse_sample_line(line, no, mtype)
            labels.setdefault(series, (name, tuple(pairs)))
            rows.append((series, repr(value), ts))
    except ParseError as e:
        return rows, labels, str(e)
    return rows, labels, None


def check(p: Parser, lines: list[str], order: str) -> None:
    """``p`` parses the page as ``reference`` does; labels asked for in ``order``."""
    want_rows, want_labels, want_error = reference(lines)
    body = "\n".join(lines).encode("utf-8", "surrogateescape")
    try:
        r = p.parse(body, "text")
    except ParseError as e:
        assert str(e) == want_error
        return
    assert want_error is None, want_error
    stamps = r.stamps or [None] * len(r.series)
    got_rows = list(zip(r.series, map(repr, r.values), stamps, strict=True))
    assert got_rows == want_rows
    texts = list(dict.fromkeys(r.series))
    if order == "reversed":
        texts.reverse()
    for i, text in enumerate(texts):
        name, pairs = want_labels[text]
        flat = tuple(x for kv in pairs for x in kv)
        if order == "labels first" and i % 2:
            assert p.series_labels(text) == (name, pairs)
        assert p.series_flat(text) == (name, flat), text
        assert p.series_labels(text) == (name, pairs), text
    p.sweep()


@st.composite
def pages(draw: st.DrawFn) -> list[str]:
    """Families f0..fn, each under its own TYPE (or none), of generated sample lines, some of
    them repeated as they are, with a timestamp added, or with their last token dropped."""
    lines: list[str] = []
    for k in range(draw(st.integers(1, 4))):
        fam = f"f{k}"
        mtype = draw(st.sampled_from(["counter", "gauge", "histogram", "summary", "untyped", ""]))
        if mtype:
            lines.append(f"# TYPE {fam}m {mtype}")
        block: list[str] = []
        for _ in range(draw(st.integers(0, 8))):
            what = draw(st.integers(0, 9))
            if block and what == 0:
                block.append(draw(st.sampled_from(block)))
            elif block and what == 1:
                block.append(draw(st.sampled_from(block)) + " 1700000000123")
            elif block and what == 2:
                block.append(draw(st.sampled_from(block)).rpartition(" ")[0])
            elif what == 3:
                block.append(draw(st.sampled_from(["", "# a comment", f"# HELP {fam}m text"])))
            else:
                block.append(fam + draw(sample_lines()))
        lines += block
    return lines


def _churn(lines: list[str]) -> list[str]:
    """The page one scrape later: other values, timestamps added and dropped, a series renamed."""
    out = []
    for i, line in enumerate(lines):
        if line and line[0] != "#":
            if i % 3 == 0:
                line = line.rpartition(" ")[0] + " 7" if " " in line else line
            elif i % 3 == 1:
                line = line + " 1700000000456"
            else:
                line = line.replace("f", "g", 1)
        out.append(line)
    return out


@settings(max_examples=600, derandomize=True, deadline=None)
@given(pages(), st.sampled_from(["in order", "reversed", "labels first"]))
def test_pages_parse_as_their_lines_do(lines: list[str], order: str) -> None:
    p = Parser()
    check(p, lines, order)  # every series new
    check(p, lines, order)  # every series seen before
    check(p, _churn(lines), order)  # some seen, in the same or the other shape
    check(Parser(), _churn(lines), order)


AWKWARD = [
    "# HELP m_total a counter",
    "# TYPE m_total counter",
    'm_total{a="1",b="x y"} 1',
    'm_total{a="1",b="x y"} 2 1700000000000',  # seen, with a timestamp: the other shape
    'm_total{a="2",b="q\\"uote"} 3',  # a backslash: not quick path 1
    'm_total{a="3",b="back\\\\slash\\n"} 4 1700000000001',
    'm_total{a="4",} 5',  # trailing comma
    'm_total{ a = "5" } 6',  # blanks: the general path
    'm_total{a="6",b="\xe9"} 7',  # non-ASCII
    "# a comment between samples",
    "",
    "m_total 8",
    "m_total 9 1700000000002",
    'm_total{a="1",b="x y"}  10',  # seen, parsed again in another form
    "# TYPE h histogram",
    'h_bucket{le="1"} 1',
    'h_bucket{le="1e1"} 2 1700000000003',
    'h_bucket{le="+Inf",x="1"} 3',
    'h_bucket{x="1",le="0.50"} 2',
    "h_sum 3.5",
    "# TYPE s summary",
    's{quantile="0.50"} 1',
    's{quantile="1e-1"} 2 1700000000004',
    's{quantile="x"} 3',
    "# TYPE g gauge",
    'g{le="1",quantile="0.50"} 1',  # no rewrite outside histograms/summaries
    'g{a="1"} NaN',
    'g{a="2"} +Inf 1700000000005',
    'g{a="3"} -1e400',  # out of range: an error
]


def test_awkward_lines() -> None:
    good = AWKWARD[:-1]
    for order in ("in order", "reversed", "labels first"):
        p = Parser()
        check(p, good, order)
        check(p, good, order)
        check(p, _churn(good), order)
    rows, labels, error = reference(good)
    assert error is None and len(rows) == 21
    assert labels['h_bucket{le="1"}'] == ("h_bucket", (("le", "1.0"),))
    assert labels['h_bucket{x="1",le="0.50"}'] == ("h_bucket", (("x", "1"), ("le", "0.5")))
    assert labels['s{quantile="1e-1"}'] == ("s", (("quantile", "0.1"),))
    assert labels['g{le="1",quantile="0.50"}'] == ("g", (("le", "1"), ("quantile", "0.50")))
    with_error = Parser()
    check(with_error, AWKWARD, "in order")
    check(with_error, ['m{a="1",a="2"} 1'], "in order")  # a duplicate label name
    check(with_error, ['m{__name__="x"} 1'], "in order")
    check(with_error, ['m{a="1"} 1 1700000000000000000000'], "in order")  # timestamp too long
    check(with_error, ['m{a="1"} 1 2', "\x00 the end", 'm{a="2"} 1'], "in order")


def test_new_series_are_asked_for_in_any_order() -> None:
    """The next stage asks for new series in parse order (the parser's fast way), but any order,
    twice, or for a series of an earlier scrape must work too."""
    page = "\n".join(f'kube_pod_info{{namespace="ns",pod="p{i}",uid="u{i}"}} 1' for i in range(20))
    p = Parser()
    r = p.parse(page.encode(), "text")
    want = {s: ("kube_pod_info", tuple(s[14:-1].replace('"', "").replace(",", "=").split("=")))
            for s in r.series}  # fmt: skip
    for s in r.series[:5]:
        assert p.series_flat(s) == want[s]
    assert p.series_flat(r.series[3]) == want[r.series[3]]  # again: out of order from here
    for s in reversed(r.series):
        assert p.series_flat(s) == want[s]
    p.sweep()
    r2 = p.parse((page + '\nkube_pod_info{namespace="ns",pod="new",uid="x"} 0').encode(), "text")
    assert p.series_flat(r2.series[-1]) == (
        "kube_pod_info",
        ("namespace", "ns", "pod", "new", "uid", "x"),
    )
    assert p.series_flat(r2.series[0]) == want[r2.series[0]]  # parsed in the earlier scrape


def test_new_series_share_label_values() -> None:
    """New series parsed inline keep one string per distinct label value (a first scrape holds
    all of them at once) and the series text that was looked up."""
    lines = [f'kube_pod_info{{namespace="default",pod="p{i % 3}"}} 1' for i in range(6)]
    lines += [f'kube_pod_status{{namespace="default",pod="p{i}"}} {i}' for i in range(3)]
    p = Parser()
    r = p.parse("\n".join(lines).encode(), "text")
    flats = [p.series_flat(s)[1] for s in dict.fromkeys(r.series)]
    assert len({id(f[1]) for f in flats}) == 1  # one "default"
    assert len({id(f[3]) for f in flats}) == 3  # one "p0", "p1", "p2"
    assert len(set(r.series)) == 6 and len(p) == 6


def test_a_seen_series_in_the_other_shape_is_the_cached_text() -> None:
    """Samples of a seen series reference the cached series text (the next stage's lookups hit
    by identity), whether or not the line has a timestamp this time."""
    plain = b'm{a="1"} 1\nm{a="2"} 2\n'
    stamped = b'm{a="1"} 1 1700000000000\nm{a="2"} 2 1700000000000\n'
    for first, second in ((plain, stamped), (stamped, plain)):
        p = Parser()
        r1 = p.parse(first, "text")
        p.sweep()
        r2 = p.parse(second, "text")
        assert r2.series == r1.series == ['m{a="1"}', 'm{a="2"}']
        assert all(a is b for a, b in zip(r1.series, r2.series, strict=True))


def test_a_series_parsed_twice_gives_its_last_parse() -> None:
    """A seen series whose line takes the slow path again (another spelling) is parsed again;
    under another TYPE its le value may differ: the next stage gets the last parse."""
    page = b'# TYPE x gauge\nx{le="1"} 1\n# TYPE x histogram\nx{le="1"}  2\nx_sum 3\n'
    p = Parser()
    r = p.parse(page, "text")
    assert r.series == ['x{le="1"}', 'x{le="1"}', "x_sum"]
    assert p.series_flat(r.series[0]) == ("x", ("le", "1.0"))
    assert p.series_flat("x_sum") == ("x_sum", ())


def test_common_values_stay_remembered_after_a_first_scrape() -> None:
    """The value memo is bounded and filled by the first pages parsed; the OpenMetrics quick path
    relies on it for "0" and "1", which the text parser looks up in its own table first."""
    from agent.scrape._parse_common import parse_float
    from agent.scrape._parse_text import _MEMO_MAX, FLOAT_MEMO

    page = "\n".join(f'm{{i="{i}"}} {i}.5' for i in range(_MEMO_MAX + 10))
    Parser().parse(page.encode(), "text")
    assert len(FLOAT_MEMO) == _MEMO_MAX
    for tok in ("0", "1", "0.0", "1.0", "-1"):
        assert repr(FLOAT_MEMO[tok]) == repr(parse_float(tok))
