"""Target building (PopulateLabels) — table-driven over fixtures/scrape/targets/*.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.model import TargetGroup
from agent.scrape.targets import build_targets, build_url, format_duration, parse_duration

FIXTURES = sorted((Path(__file__).parents[2] / "fixtures" / "scrape" / "targets").glob("*.yaml"))


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_build_targets(path: Path, scrape_config: Any) -> None:
    case = yaml.safe_load(path.read_text())
    cfg = scrape_config(case["config"])
    g = case["group"]
    group = TargetGroup(
        source=g.get("source", "0"),
        targets=tuple({k: str(v) for k, v in t.items()} for t in g["targets"]),
        labels=g.get("labels", {}),
    )
    results = build_targets(group, cfg)
    assert len(results) == len(case["expect"])
    for res, want in zip(results, case["expect"], strict=True):
        if "error" in want:
            assert res.target is None
            assert res.error is not None and want["error"] in res.error, res.error
            continue
        if want.get("dropped"):
            assert res.target is None and res.error is None
            continue
        assert res.error is None, res.error
        t = res.target
        assert t is not None
        assert dict(t.labels) == want["labels"]
        assert list(t.labels) == sorted(t.labels), "labels must be canonical (sorted)"
        assert not any(k.startswith("__") for k, _ in t.labels)
        if "url" in want:
            assert t.url == want["url"]
        if "interval" in want:
            assert t.interval == want["interval"]
        if "timeout" in want:
            assert t.timeout == want["timeout"]
        for k, v in want.get("discovered", {}).items():
            assert res.discovered_labels.get(k) == v, k
        for k, v in want.get("populated", {}).items():
            assert t.populated_labels.get(k) == v, k
        for k in want.get("absent", []):
            assert k not in t.populated_labels


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (60, "1m"),
        (90, "1m30s"),
        (10, "10s"),
        (0.5, "500ms"),
        (0, "0s"),
        (3600, "1h"),
        (86400 * 14, "2w"),
        (86400 * 15, "15d"),
        (1.5, "1s500ms"),
        (365 * 86400, "1y"),
    ],
)
def test_duration_roundtrip(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "1.5s", "5x", "s", "1m1h", "-1s"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_key_is_stable_and_distinguishes(scrape_config: Any) -> None:
    cfg = scrape_config({"job_name": "j"})
    g = TargetGroup("0", ({"__address__": "a:1"}, {"__address__": "a:1", "x": "y"}))
    first = [r.target for r in build_targets(g, cfg)]
    again = [r.target for r in build_targets(g, cfg)]
    assert first[0] is not None and first[1] is not None and again[0] is not None
    assert first[0].key == again[0].key
    assert first[0].key != first[1].key


def test_offset_is_within_interval_and_pinned(scrape_config: Any) -> None:
    cfg = scrape_config({"job_name": "j", "scrape_interval": 10})
    t = build_targets(TargetGroup("0", ({"__address__": "a:1"},)), cfg)[0].target
    assert t is not None
    o1 = t.offset(10, now=1000.0)
    assert 0 <= o1 <= 10
    # Pinned to absolute time: 3 s later the next scrape is 3 s closer (mod interval).
    o2 = t.offset(10, now=1003.0)
    assert round((o1 - o2) % 10, 6) == 3.0
    assert t.offset(10, seed=12345, now=1000.0) != o1


def test_url_escapes_path() -> None:
    url = build_url({"__scheme__": "http", "__address__": "h:1", "__metrics_path__": "/a b/c"}, {})
    assert url == "http://h:1/a%20b/c"
