"""The parser lets go of parsed label sets once a scrape is processed and parses a series text
again when asked for it later: the answer must be the one the first parse gave."""

from __future__ import annotations

import pytest

import agent.scrape.parse as parse_mod
from agent.scrape.parse import ParseError, Parser

PAGE = b"""# TYPE http_requests_total counter
http_requests_total{method="GET",code="200"} 10
http_requests_total{code="500",method="POST"} 1
# TYPE latency histogram
latency_bucket{le="1"} 1
latency_bucket{le="+Inf"} 2
latency_sum 3
latency_count 2
# TYPE rpc summary
rpc{quantile="0.5"} 1
odd{a="x\\\\y\\"z\\n",b="\xc3\xa9"} 2
plain 3
"""


def _labels(p: Parser, texts: list[str]) -> dict[str, tuple[str, tuple[tuple[str, str], ...]]]:
    return {t: p.series_labels(t) for t in texts}


def test_series_labels_after_sweep_equal_the_first_parse() -> None:
    p = Parser()
    r1 = p.parse(PAGE, "text")
    first = _labels(p, r1.series)
    # le / quantile values were rewritten as Prometheus 3 does
    assert first['latency_bucket{le="1"}'] == ("latency_bucket", (("le", "1.0"),))
    assert first['rpc{quantile="0.5"}'] == ("rpc", (("quantile", "0.5"),))
    assert first['odd{a="x\\\\y\\"z\\n",b="\xe9"}'] == ("odd", (("a", 'x\\y"z\n'), ("b", "\xe9")))
    p.sweep()
    r2 = p.parse(PAGE, "text")
    assert r2.series == r1.series
    # every text of the second parse came from the cache (the same string objects)
    assert all(a is b for a, b in zip(r1.series, r2.series, strict=True))
    p.sweep()
    assert _labels(p, r2.series) == first  # parsed again (or kept) after the sweep


def test_series_labels_of_an_unknown_text_is_a_key_error() -> None:
    p = Parser()
    p.parse(PAGE, "text")
    p.sweep()
    try:
        p.series_labels('nope{a="b"}')
    except KeyError:
        pass
    else:  # pragma: no cover - the assertion
        raise AssertionError("expected KeyError")


@pytest.mark.parametrize("block", [1, 7, 40, 1 << 20])
def test_pieces_cut_anywhere_parse_like_the_whole_body(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    whole = Parser().parse(PAGE, "text")
    monkeypatch.setattr(parse_mod, "_BLOCK", block)
    assert Parser().parse(PAGE, "text").samples == whole.samples
    for cut in range(1, len(PAGE)):
        pieces = [PAGE[:cut], b"", PAGE[cut : cut + 5], PAGE[cut + 5 :]]
        got = Parser().parse(iter(pieces), "text")
        assert got.samples == whole.samples, cut
        assert got.metadata == whole.metadata


def test_pieces_keep_line_numbers_of_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse_mod, "_BLOCK", 8)
    bad = PAGE + b"bad{ 1\n"
    with pytest.raises(ParseError) as whole:
        Parser().parse(bad, "text")
    with pytest.raises(ParseError) as cut:
        Parser().parse(iter([bad[:50], bad[50:]]), "text")
    assert whole.value.lineno == cut.value.lineno == PAGE.count(b"\n") + 1


def test_series_flat_is_series_labels_flattened() -> None:
    page = (
        b"# TYPE h histogram\n"
        b'h_bucket{a="x",le="1"} 1\nh_bucket{a="x",le="+Inf"} 2\nh_sum{a="x"} 3\nh_count{a="x"} 2\n'
        b'g{b="1",a="2"} 4\nplain 5\n'
    )
    for fmt, body in (("text", page), ("openmetrics", page + b"# EOF\n")):
        p = Parser()
        texts = list(p.parse(body, fmt).series)
        for rnd in range(2):  # fresh, then parsed again after a sweep
            for t in texts:
                name, pairs = p.series_labels(t)
                flat_name, flat = p.series_flat(t)
                assert flat_name == name
                assert flat == tuple(x for kv in pairs for x in kv)
            p.sweep()
            if rnd == 0:
                texts = list(p.parse(body, fmt).series)
                p.sweep()
