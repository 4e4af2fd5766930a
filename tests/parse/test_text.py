"""Prometheus text format 0.0.4: semantics of agent.scrape.parse (Prometheus 3 textparse)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agent.model import MetricMeta
from agent.scrape.parse import ParseError, Parser, ParseResult, detect_format

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pages"


def parse(text: str | bytes) -> tuple[Parser, ParseResult]:
    p = Parser()
    data = text.encode() if isinstance(text, str) else text
    return p, p.parse(data, "text/plain; version=0.0.4; charset=utf-8")


def flat(text: str) -> list[tuple[str, tuple[tuple[str, str], ...], float, int | None]]:
    p, r = parse(text)
    return [(*p.series_labels(s), v, ts) for s, v, ts, _ in r.samples]


def error(text: str | bytes) -> ParseError:
    with pytest.raises(ParseError) as ei:
        parse(text)
    return ei.value


def test_simple_page_samples_and_metadata() -> None:
    p, r = parse(
        "# HELP http_requests_total Total requests.\n"
        "# TYPE http_requests_total counter\n"
        'http_requests_total{method="GET",code="200"} 1027 1395066363000\n'
        'http_requests_total{method="POST",code="400"} 3\n'
        "up 1\n"
    )
    assert r.samples == [
        ('http_requests_total{method="GET",code="200"}', 1027.0, 1395066363000, None),
        ('http_requests_total{method="POST",code="400"}', 3.0, None, None),
        ("up", 1.0, None, None),
    ]
    assert r.metadata == {"http_requests_total": MetricMeta("counter", "Total requests.", "")}
    assert p.series_labels('http_requests_total{method="GET",code="200"}') == (
        "http_requests_total",
        (("method", "GET"), ("code", "200")),
    )
    assert p.series_labels("up") == ("up", ())


@pytest.mark.parametrize(
    ("tok", "want"),
    [
        ("0", 0.0),
        ("-0.5", -0.5),
        ("1e3", 1000.0),
        ("1.5E-3", 0.0015),
        (".5", 0.5),
        ("5.", 5.0),
        ("+Inf", math.inf),
        ("-Inf", -math.inf),
        ("Inf", math.inf),
        ("inf", math.inf),
        ("Infinity", math.inf),
        ("-infinity", -math.inf),
        ("0042", 42.0),
        ("9223372036854775808", 9223372036854775808.0),
    ],
)
def test_values_go_parsefloat(tok: str, want: float) -> None:
    assert flat(f"m {tok}\n")[0][2] == want


@pytest.mark.parametrize("tok", ["NaN", "nan", "NAN"])
def test_nan_values(tok: str) -> None:
    assert math.isnan(flat(f"m {tok}\n")[0][2])


@pytest.mark.parametrize(
    "tok",
    ["1_000", "0x1p-3", "0x10", "true", "+NaN", "-nan", "1e400", "١", "1,5", "--1", "0b1", "1.2.3"],
)
def test_values_rejected_like_prometheus(tok: str) -> None:
    e = error(f"ok 1\nm {tok}\n")
    assert e.lineno == 2
    assert str(e).startswith("line 2: ")


def test_rejects_values_python_would_accept_around_whitespace() -> None:
    # Python's float() strips \r, \v, \f: Go's ParseFloat does not (CRLF bodies fail in Prometheus)
    for ws in ("\r", "\x0b", "\x0c"):
        assert error(f"m 1{ws}\n").lineno == 1


def test_timestamps() -> None:
    got = flat("a 1 0\nb 2 1782468870000\n")
    assert [g[3] for g in got] == [0, 1782468870000]
    for bad in ("a 1 -5", "a 1 1.5", "a 1 1_2", "a 1 9223372036854775808", "a 1 2 3", "a 1 x"):
        assert error(bad).lineno == 1, bad


def test_whitespace_rules() -> None:
    got = flat(
        '  lead 1\nspaced { a = "1" , b="2" }   7   17\ntab{a="1"}\t8\t\ntrail 9 \n'
        'nocomma{a="1" b="2"} 1\ntrailing{a="1",} 2\n'
    )
    assert got == [
        ("lead", (), 1.0, None),
        ("spaced", (("a", "1"), ("b", "2")), 7.0, 17),
        ("tab", (("a", "1"),), 8.0, None),
        ("trail", (), 9.0, None),
        ("nocomma", (("a", "1"), ("b", "2")), 1.0, None),
        ("trailing", (("a", "1"),), 2.0, None),
    ]


def test_series_text_is_raw_and_stripped() -> None:
    _, r = parse('  spaced { a = "1" }   7\n')
    assert r.samples[0][0] == 'spaced { a = "1" }'


def test_label_value_escapes() -> None:
    got = flat('m{a="x\\\\y",b="say \\"hi\\"",c="l1\\nl2",d="keep\\z",e="#{}= ,"} 1\n')
    assert got[0][1] == (
        ("a", "x\\y"),
        ("b", 'say "hi"'),
        ("c", "l1\nl2"),
        ("d", "keep\\z"),
        ("e", "#{}= ,"),
    )


def test_help_escapes_and_types() -> None:
    _, r = parse(
        "# HELP a First \\\\ line\\nsecond \\z\n# TYPE a gauge\n"
        "# TYPE b untyped\n# TYPE c histogram\n# TYPE d summary\n# HELP e\n# HELP f \n"
    )
    assert r.metadata["a"] == MetricMeta("gauge", "First \\ line\nsecond \\z", "")
    assert r.metadata["b"].type == "unknown"
    assert r.metadata["c"].type == "histogram"
    assert r.metadata["d"].type == "summary"
    assert r.metadata["e"] == MetricMeta("unknown", "", "")
    assert r.metadata["f"] == MetricMeta("unknown", "", "")


def test_comments_are_ignored() -> None:
    _, r = parse("#\n# just words\n#HELP not meta\n# HELPER x\n#\tTYPE x gauge\nm 1\n")
    assert [s[0] for s in r.samples] == ["m"]
    assert r.metadata == {"x": MetricMeta("gauge", "", "")}  # "#<tab>TYPE" is metadata


def test_bad_type_is_an_error() -> None:
    e = error("m 1\n# TYPE m gaugee\n")
    assert e.lineno == 2 and "gaugee" in str(e)
    assert error("# TYPE m counter \n").lineno == 1  # "counter " is not a type
    assert error("# TYPE m\n").lineno == 1


def test_quoted_utf8_names() -> None:
    got = flat(
        '{"http.server.duration", "service.name"="checkout"} 1\n{"ä"} 2\n# TYPE "a.b" gauge\n'
    )
    assert got == [
        ("http.server.duration", (("service.name", "checkout"),), 1.0, None),
        ("ä", (), 2.0, None),
    ]
    _, r = parse('# TYPE "a.b" gauge\n{"a.b"} 1\n')
    assert r.metadata == {"a.b": MetricMeta("gauge", "", "")}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('m{a="1} 2\n', "unterminated quote"),
        ("m{a=1} 2\n", "expected quoted label value"),
        ("m{a} 2\n", "expected '='"),
        ('m{,a="1"} 2\n', "expected label name"),
        ('m{a="1",,b="2"} 2\n', "expected label name"),
        ('{a="1"} 2\n', "metric name not set"),
        ('{"a","b"} 2\n', "metric name already set"),
        ("0m 1\n", "expected a metric name"),
        ("m\n", "expected value"),
        ('m{a="1",a="2"} 1\n', "not unique"),
        ('m{__name__="x"} 1\n', "not unique"),
        ('m{a="1"}{b="2"} 1\n', "{"),
    ],
)
def test_errors_name_the_line(text: str, needle: str) -> None:
    e = error("good 1\n# HELP good fine\n" + text)
    assert e.lineno == 3
    assert str(e).startswith("line 3: ")
    assert needle in str(e)


def test_invalid_utf8() -> None:
    e = error(b'ok 1\nm{a="\xff"} 1\n')
    assert e.lineno == 2 and "UTF-8" in str(e)
    # Prometheus does not look inside ordinary comments
    _, r = parse(b"# \xff comment\nm 1\n")
    assert len(r.samples) == 1


def test_nul_bytes() -> None:
    # allowed inside label values (Prometheus' lexer consumes them there)
    assert flat('a{b="x\x00y"} 1\n')[0][1] == (("b", "x\x00y"),)
    assert error('a{b=\x00"x"} 1\n').lineno == 1
    assert error("a 0 1\x00\n").lineno == 1
    # a NUL where a line starts ends the input, as in Prometheus' lexer
    _, r = parse("a 1\n\x00b 2\n")
    assert [s[0] for s in r.samples] == ["a"]


def test_empty_and_blank_bodies() -> None:
    assert parse("")[1].samples == []
    assert parse("\n\n\n")[1].samples == []
    assert flat("a 1") == [("a", (), 1.0, None)]  # no final newline


def test_le_and_quantile_values_are_normalised_like_prometheus3() -> None:
    got = flat(
        "# TYPE h histogram\n"
        'h_bucket{le="1"} 1\nh_bucket{le="0.5e1"} 2\nh_bucket{le="+Inf"} 3\n'
        "# TYPE s summary\n"
        's{quantile="0"} 1\ns{quantile="0.99"} 2\n'
        "# TYPE g gauge\n"
        'g{le="1",quantile="1"} 1\n'
    )
    assert [dict(g[1]) for g in got] == [
        {"le": "1.0"},
        {"le": "5.0"},
        {"le": "+Inf"},
        {"quantile": "0.0"},
        {"quantile": "0.99"},
        {"le": "1", "quantile": "1"},
    ]


def test_cache_steady_state_and_sweep() -> None:
    p = Parser()
    page1 = b'a{x="1"} 1\na{x="2"} 2 1000\nb 3\n'
    page2 = b'a{x="1"} 10\na{x="3"} 20 2000\nb 30\n'
    r1 = p.parse(page1, "text")
    assert len(p) == 3
    r1b = p.parse(page1, "text")
    assert r1b.samples == r1.samples
    r2 = p.parse(page2, "text")
    assert [(s, v, t) for s, v, t, _ in r2.samples] == [
        ('a{x="1"}', 10.0, None),
        ('a{x="3"}', 20.0, 2000),
        ("b", 30.0, None),
    ]
    assert len(p) == 4  # a{x="2"} still cached
    p.sweep()
    assert len(p) == 3
    assert p.series_labels('a{x="3"}') == ("a", (("x", "3"),))
    with pytest.raises(KeyError):
        p.series_labels('a{x="2"}')


def test_cached_series_with_a_bad_value_still_fails() -> None:
    p = Parser()
    p.parse(b"a 1\n", "text")
    for bad in (b"a 1_0\n", b"a +nan\n", b"a 1 2 3\n", b"a 1 -1\n", b"a \n"):
        with pytest.raises(ParseError):
            p.parse(bad, "text")


def test_parse_error_is_the_only_exception_for_odd_inputs() -> None:
    p = Parser()
    for body in (b"\xff\xfe", b"{", b"}", b'{"', b"# TYPE", b'a{b="\\', b"\x00", b"a{" * 1000):
        try:
            p.parse(body, "text")
        except ParseError:
            pass


@pytest.mark.parametrize(
    ("ct", "want"),
    [
        ("text/plain; version=0.0.4; charset=utf-8", "text"),
        ("text/plain", "text"),
        ("TEXT/PLAIN;version=1.0.0", "text"),
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", "openmetrics"),
        ("application/openmetrics-text; version=0.0.1", "openmetrics"),
        ("", "text"),
        ("application/json", "text"),
    ],
)
def test_detect_format(ct: str, want: str) -> None:
    assert detect_format(ct) == want


def test_detect_format_fallbacks() -> None:
    assert detect_format("", "OpenMetricsText1.0.0") == "openmetrics"
    assert detect_format("application/json", "PrometheusText1.0.0") == "text"
    with pytest.raises(ParseError, match="blank Content-Type"):
        detect_format("", "")
    with pytest.raises(ParseError, match="unsupported Content-Type"):
        detect_format("application/json", "")
    with pytest.raises(ParseError, match="fallback"):
        detect_format("", "Nonsense")


def test_parse_accepts_content_type_or_format_name() -> None:
    body = b"# TYPE a counter\na_total 1\n# EOF\n"
    assert len(Parser().parse(body, "application/openmetrics-text; version=1.0.0").samples) == 1
    assert len(Parser().parse(body, "openmetrics").samples) == 1
    with pytest.raises(ParseError):
        Parser().parse(b"a 1\n", "openmetrics")  # no # EOF


@pytest.mark.parametrize("name", ["ksm.prom", "cadvisor.prom", "histograms.prom", "edge.prom"])
def test_fixture_pages_parse(name: str) -> None:
    p, r = parse((FIXTURES / name).read_bytes())
    assert len(r.samples) > 20
    assert r.metadata
    for series, value, _ts, ex in r.samples:
        mname, labels = p.series_labels(series)
        assert mname and isinstance(value, float) and ex is None
        assert len({k for k, _ in labels}) == len(labels)


def test_cadvisor_fixture_has_ms_timestamps() -> None:
    _, r = parse((FIXTURES / "cadvisor.prom").read_bytes())
    stamped = [ts for s, _, ts, _ in r.samples if s.startswith("container_")]
    assert stamped and all(ts is not None and ts > 1_700_000_000_000 for ts in stamped)
    machine = [ts for s, _, ts, _ in r.samples if s.startswith("machine_")]
    assert machine and all(ts is None for ts in machine)


def test_helpful_messages() -> None:
    assert "Windows line endings" in str(error("a 1\r\nb 2\r\n"))
    e = error("http.requests 1\n")
    assert 'invalid character "." in metric name "http.requests"' in str(e)
    assert '{"http.requests"}' in str(e)
    assert flat('a{b="c"}1\n') == [("a", (("b", "c"),), 1.0, None)]  # no blank needed after }


def test_sweep_is_idempotent_and_keeps_last_series() -> None:
    p = Parser()
    p.parse(b"a 1\nb 2\n", "text")
    p.parse(b"a 1\n", "text")
    p.sweep()
    p.sweep()
    assert len(p) == 1 and p.series_labels("a") == ("a", ())
    p.sweep()  # nothing parsed since: still a no-op
    assert len(p) == 1


def test_sweep_skips_the_rebuild_when_nothing_is_stale_and_stays_bounded_with_duplicates() -> None:
    p = Parser()
    p.parse(b"a 1\nb 2\n", "text")
    p.sweep()
    cache = p._cache
    p.parse(b"a 1\nb 2\n", "text")
    p.sweep()
    assert p._cache is cache  # steady state: no rebuild
    # a duplicate line can hide one stale entry (b) ...
    p.parse(b"a 1\na 1\n", "text")
    p.sweep()
    assert len(p) <= 2
    # ... but no more: new series beyond the sample count force the rebuild
    for i in range(5):
        p.parse(f"a 1\nc{i} 2\n".encode(), "text")
        p.sweep()
        assert len(p) == 2
        assert p.series_labels(f"c{i}") == (f"c{i}", ())


def test_block_splitting_gives_the_same_result_as_one_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import agent.scrape.parse as parse_mod

    lines = ["# TYPE a counter", "# HELP a Help."]
    for i in range(300):
        lines.append(f'a_total{{i="{i}"}} {i}' + (f" {1000 + i}" if i % 7 == 0 else ""))
        if i % 50 == 0:
            lines.append("")
    page = ("\n".join(lines) + "\n").encode()
    want = Parser().parse(page, "text")
    bad_line = page + b'b{x="1" 1\n'
    with pytest.raises(ParseError) as want_err:
        Parser().parse(bad_line, "text")
    nul = page + b"\x00 rest is ignored\nc 1\n"
    want_nul = Parser().parse(nul, "text")
    for block in (1, 7, 64, 1000):
        monkeypatch.setattr(parse_mod, "_BLOCK", block)
        p = Parser()
        for _ in range(2):  # cold, then the quick path
            got = p.parse(page, "text")
            assert got.samples == want.samples
            assert got.metadata == want.metadata
        with pytest.raises(ParseError) as err:
            Parser().parse(bad_line, "text")
        assert str(err.value) == str(want_err.value)
        assert Parser().parse(nul, "text").samples == want_nul.samples
    assert len(want_nul.samples) == 300
