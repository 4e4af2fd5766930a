"""OpenMetrics 1.0: syntax as Prometheus' parser, spec rules in strict mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.model import Exemplar, MetricMeta
from agent.scrape.parse import ParseError, Parser, ParseResult

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pages"
OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def parse(text: str, strict: bool = False) -> tuple[Parser, ParseResult]:
    p = Parser(strict=strict)
    return p, p.parse(text.encode(), OM)


def error(text: str, strict: bool = False) -> ParseError:
    with pytest.raises(ParseError) as ei:
        parse(text, strict)
    return ei.value


def test_fixture_every_type() -> None:
    p, r = parse((FIXTURES / "openmetrics.om").read_text(), strict=True)
    assert r.metadata["http_server_requests"] == MetricMeta(
        "counter", "Total HTTP requests served, by route and status.", "requests"
    )
    types = {k: m.type for k, m in r.metadata.items()}
    assert types == {
        "http_server_requests": "counter",
        "http_server_request_duration_seconds": "histogram",
        "queue_depth": "gauge",
        "rpc_duration_seconds": "summary",
        "build": "info",
        "feature_state": "stateset",
        "request_size_bytes": "gaugehistogram",
        "process_start_time_seconds": "gauge",
        "legacy_temperature_celsius": "unknown",
    }
    first = r.samples[0]
    assert first[0] == 'http_server_requests_total{route="/api/orders",method="GET",code="200"}'
    assert first[1] == 184532.0 and first[2] is None
    assert first[3] == Exemplar(
        labels=(("span_id", "00f067aa0ba902b7"), ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")),
        value=1.0,
        timestamp_ms=1782468870123,
    )
    created = [s for s in r.samples if s[0].startswith("http_server_requests_created")]
    assert created[0][1] == 1782380000.5
    exemplars = [s[3] for s in r.samples if s[3] is not None]
    assert len(exemplars) == 5
    assert exemplars[1].timestamp_ms is None
    names = {p.series_labels(s[0])[0] for s in r.samples}
    assert {"build_info", "request_size_bytes_gcount", "untyped_without_metadata"} <= names
    legacy = [s for s in r.samples if s[0].startswith("legacy_temperature_celsius")]
    assert [s[2] for s in legacy] == [1782468870000, 1782468870500]
    assert p.series_labels(legacy[0][0])[1] == (
        ("sensor", 'rack "7"'),
        ("path", "C:\\temp"),
        ("note", "line\nbreak"),
    )


def test_fixture_same_in_lenient_mode() -> None:
    text = (FIXTURES / "openmetrics.om").read_text()
    lenient, strict = parse(text)[1], parse(text, strict=True)[1]
    assert repr(lenient.samples) == repr(strict.samples)  # repr: NaN values compare equal
    assert lenient.metadata == strict.metadata


def test_timestamps_are_float_seconds() -> None:
    _, r = parse("a 1 1.5\nb 1 0\nc 1 1782468870.123\nd 1 -1.25\n# EOF\n")
    assert [s[2] for s in r.samples] == [1500, 0, 1782468870123, -1250]
    for bad in ("a 1 NaN", "a 1 +Inf", "a 1 1_0", "a 1 0x1p3", "a 1 z"):
        assert error(f"{bad}\n# EOF\n").lineno == 1


@pytest.mark.parametrize(
    "body",
    [
        "",
        "a 1\n",
        "a 1\n# EOF\n\n",
        "a 1\n# EOF\nb 1\n",
        "a 1\n\n# EOF\n",
        " a 1\n# EOF\n",
        "a  1\n# EOF\n",
        "a 1 \n# EOF\n",
        "a\t1\n# EOF\n",
        'a{b="1" ,c="2"} 1\n# EOF\n',
        "# random comment\n# EOF\n",
        "# TYPE a untyped\n# EOF\n",
        "# TYPE a counter \n# EOF\n",
        "# HELP a\n# EOF\n",
        "# UNIT a_seconds bytes\n# EOF\n",
        'a_total 1 # {x="y"}\n# EOF\n',
        'a_total 1 #{x="y"} 1\n# EOF\n',
        "# EOFX\n",
    ],
)
def test_syntax_errors_in_both_modes(body: str) -> None:
    error(body)
    error(body, strict=True)


def test_eof_forms() -> None:
    assert parse("# EOF")[1].samples == []
    assert parse("# EOF\n")[1].samples == []
    assert len(parse("a 1\n# EOF")[1].samples) == 1
    e = error("a 1\n# EOF\nb 2\n")
    assert e.lineno == 3 and "after # EOF" in str(e)
    assert "does not end with # EOF" in str(error("a 1\nb 2\n"))


@pytest.mark.parametrize(
    "body",
    [
        "# TYPE a counter\na_total -1\n",
        "# TYPE a counter\na_total NaN\n",
        '# TYPE a histogram\na_bucket{le="1"} 1\na_bucket{le="+Inf"} 0\n',
        "# TYPE a histogram\na_sum 1\n",
        '# TYPE a gauge\na 1 # {x="y"} 1\n',
        "# TYPE a gauge\na 1\n# HELP a late\n",
        "# TYPE a gauge\n# TYPE a gauge\n",
        "a 1\nb 1\na 1\n",
        '# TYPE a stateset\na{a="x"} 2\n',
        "# TYPE a info\na_info 2\n",
        '# TYPE a summary\na{quantile="2"} 1\n',
        "# TYPE a gauge\na 0 2\na 0 1\n",
        'a{b="1",} 1\n',
    ],
)
def test_spec_rules_only_in_strict_mode(body: str) -> None:
    body += "# EOF\n"
    parse(body)  # Prometheus accepts these
    error(body, strict=True)


def test_lenient_keeps_metadata_of_split_families() -> None:
    _, r = parse("# HELP a first\na 1\n# TYPE a gauge\n# EOF\n")
    assert r.metadata == {"a": MetricMeta("gauge", "first", "")}


def test_le_normalised_and_exemplar_on_bucket() -> None:
    p, r = parse(
        '# TYPE h histogram\nh_bucket{le="1"} 1 # {trace_id="ab"} 0.5 10\n'
        'h_bucket{le="+Inf"} 2\nh_count 2\nh_sum 0.7\n# EOF\n',
        strict=True,
    )
    assert p.series_labels(r.samples[0][0]) == ("h_bucket", (("le", "1.0"),))
    assert r.samples[0][3] == Exemplar((("trace_id", "ab"),), 0.5, 10000)


def test_exemplar_label_limit_strict() -> None:
    long = "x" * 127
    ok = f'# TYPE a counter\na_total 1 # {{a="{long}"}} 1\n# EOF\n'
    parse(ok, strict=True)
    bad = ok.replace(long, long + "y")
    assert "128" in str(error(bad, strict=True))
    assert parse(bad)[1].samples[0][3] is not None


def test_cache_is_per_format() -> None:
    p = Parser()
    p.parse(b'a{b="1"} 1\n', "text")
    r = p.parse(b'a{b="1"} 2\n# EOF\n', "openmetrics")
    assert r.samples == [('a{b="1"}', 2.0, None, None)]
    with pytest.raises(ParseError):
        p.parse(b'a{b="1",} 2 1\n', "openmetrics")  # ms-looking ts is fine, no EOF is not


def test_strict_message_for_counter_without_total() -> None:
    e = error("# TYPE a counter\na 1\n# EOF\n", strict=True)
    assert e.lineno == 2
    assert 'sample "a" does not fit counter family "a"' in str(e) and '"a_total"' in str(e)
