"""SeriesProcessor keeps one ``Series`` object per final label set of a target: duplicates
and staleness are decided on it, translate keeps its per-series work on it. These tests pin
what that must never change: Prometheus' duplicate, staleness, limit and cache rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.model import TargetGroup
from agent.scrape.parse import Parser
from agent.scrape.samples import SeriesProcessor
from agent.scrape.targets import build_targets


def processor(cfg: Any) -> SeriesProcessor:
    t = build_targets(TargetGroup("0", ({"__address__": "h:1"},)), cfg)[0].target
    assert t is not None
    return SeriesProcessor(t, cfg)


def run(proc: SeriesProcessor, parser: Parser, page: bytes, ts: int) -> Any:
    o = proc.process(parser, parser.parse(page, "text"), ts)
    parser.sweep()
    return o


def names(o: Any) -> list[str]:
    return [dict(s.labels)["__name__"] + str(dict(s.labels).get("a", "")) for s in o.series]


def test_two_spellings_of_one_label_set_are_one_series(
    scrape_config: Callable[[dict[str, Any]], Any],
) -> None:
    proc, parser = processor(scrape_config({"job_name": "j"})), Parser()
    o = run(proc, parser, b'd{a="1",b="2"} 1\nd{b="2",a="1"} 2\ne 3\n', 1000)
    assert names(o) == ["d1", "e"] and o.values == [1.0, 3.0]
    assert o.duplicates == 1 and o.scraped == 3 and o.post_relabel == 3


def test_series_objects_persist_and_vanishing_ones_go_stale_once(
    scrape_config: Callable[[dict[str, Any]], Any],
) -> None:
    proc, parser = processor(scrape_config({"job_name": "j"})), Parser()
    o1 = run(proc, parser, b'm{a="1"} 1\nm{a="2"} 1\n', 1000)
    o2 = run(proc, parser, b'm{a="1"} 2\nm{a="2"} 2\n', 2000)
    assert [id(s) for s in o1.series] == [id(s) for s in o2.series] and not o2.stale
    o3 = run(proc, parser, b'm{a="2"} 3\n', 3000)
    assert [s.labels for s in o3.stale] == [o1.series[0].labels]
    o4 = run(proc, parser, b'm{a="2"} 4\n', 4000)
    assert not o4.stale
    o5 = run(proc, parser, b'm{a="1"} 5\nm{a="2"} 5\n', 5000)
    assert names(o5) == ["m1", "m2"] and not o5.stale and o5.series_added == 1


def test_churn_leaves_only_the_last_scrapes_series_cached(
    scrape_config: Callable[[dict[str, Any]], Any],
) -> None:
    proc, parser = processor(scrape_config({"job_name": "j"})), Parser()
    for i in range(5):
        page = b"".join(b'm{a="%d"} 1\n' % (i * 100 + k) for k in range(100))
        o = run(proc, parser, page, 1000 * (i + 1))
        assert len(o.stale) == (100 if i else 0)
        assert len(proc._cache) == len(proc._by_labels) == 100
        assert len(parser) == 100


def test_reload_keeps_series_objects_and_marks_only_what_is_gone(
    scrape_config: Callable[[dict[str, Any]], Any],
) -> None:
    parser = Parser()
    old = processor(scrape_config({"job_name": "j"}))
    o1 = run(old, parser, b'm{a="1"} 1\nm{a="2"} 1\n', 1000)
    rules = {"metric_relabel_configs": [{"source_labels": ["a"], "regex": "2", "action": "drop"}]}
    new = processor(scrape_config({"job_name": "j", **rules}))
    new.inherit(old)
    o2 = run(new, parser, b'm{a="1"} 2\nm{a="2"} 2\n', 2000)
    assert o2.series == [o1.series[0]]  # the same object: not stale
    assert [s.labels for s in o2.stale] == [o1.series[1].labels]
    assert o2.dropped_by_relabel == 1


def test_sample_limit_counts_past_the_limit_and_fails_with_stale_markers(
    scrape_config: Callable[[dict[str, Any]], Any],
) -> None:
    proc, parser = processor(scrape_config({"job_name": "j", "sample_limit": 2})), Parser()
    ok = run(proc, parser, b"a 1\nb 1\n", 1000)
    assert ok.error is None and len(ok.series) == 2
    o = run(proc, parser, b"a 1\nb 1\nc 1\nd 1\nb 2\n", 2000)
    assert o.error == "sample limit exceeded"
    assert o.scraped == 5 and o.post_relabel == 5 and o.duplicates == 1
    assert not o.series and sorted(s.labels[0][1] for s in o.stale) == ["a", "b"]
    again = run(proc, parser, b"a 1\nb 1\n", 3000)
    assert again.error is None and not again.stale  # nothing was live after the failure
