"""Scrape loops end to end over real sockets: target labels, honor_labels/timestamps,
metric relabelling, limits, staleness, report series."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest

from agent.devtools.target_server import OPENMETRICS_CONTENT_TYPE, Page, TargetServer
from agent.model import ScrapeBatch, TargetGroup, is_stale_nan
from agent.scrape.http import ScrapeClient
from agent.scrape.loop import JobStats, ScrapeLoop
from agent.scrape.targets import build_targets

PAGE = b"""# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",path="/"} 10
http_requests_total{code="500",path="/"} 2
# TYPE temp gauge
temp 21.5
"""


def make_loop(
    srv: TargetServer, cfg: Any, sink: Callable[[ScrapeBatch], None], **kw: Any
) -> ScrapeLoop:
    group = TargetGroup("0", ({"__address__": srv.address, **kw},))
    t = build_targets(group, cfg)[0].target
    assert t is not None
    return ScrapeLoop(t, cfg, ScrapeClient(cfg), sink, JobStats())


def scrape_n(
    loop: ScrapeLoop, n: int, between: Callable[[int], None] | None = None
) -> list[ScrapeBatch]:
    async def go() -> list[ScrapeBatch]:
        out = []
        for i in range(n):
            if between is not None:
                between(i)
            out.append(await loop.scrape_once())
        await loop.client.aclose()
        return out

    return asyncio.run(go())


def by_name(batch: ScrapeBatch) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for s in batch.samples:
        out.setdefault(dict(s.labels)["__name__"], []).append(s)
    return out


def report(batch: ScrapeBatch) -> dict[str, float]:
    return {dict(s.labels)["__name__"]: s.value for s in batch.report}


def test_basic_scrape_labels_report_and_metadata(scrape_config: Any) -> None:
    with TargetServer() as srv:
        srv.set("/metrics", PAGE)
        cfg = scrape_config({"job_name": "app"})
        (b,) = scrape_n(make_loop(srv, cfg, lambda b: None, team="core"), 1)
    assert b.target.job == "app" and b.target.instance == srv.address
    labels = sorted(s.labels for s in b.samples)
    assert labels[0] == (
        ("__name__", "http_requests_total"),
        ("code", "200"),
        ("instance", srv.address),
        ("job", "app"),
        ("path", "/"),
        ("team", "core"),
    )
    assert all(s.timestamp_ms == b.timestamp_ms for s in b.samples)
    assert b.metadata["temp"].type == "gauge"
    r = report(b)
    assert r["up"] == 1.0
    assert r["scrape_samples_scraped"] == 3
    assert r["scrape_samples_post_metric_relabeling"] == 3
    assert r["scrape_series_added"] == 3
    assert 0 < r["scrape_duration_seconds"] < 5
    up = next(s for s in b.report if dict(s.labels)["__name__"] == "up")
    assert dict(up.labels) == {
        "__name__": "up",
        "instance": srv.address,
        "job": "app",
        "team": "core",
    }


def test_honor_labels_false_renames_clashes_true_keeps_scraped(scrape_config: Any) -> None:
    page = b'm{job="other",instance="x",exported_job="y"} 1\n'
    with TargetServer() as srv:
        srv.set("/metrics", page)
        (b,) = scrape_n(make_loop(srv, scrape_config({"job_name": "j"}), lambda b: None), 1)
        assert dict(b.samples[0].labels) == {
            "__name__": "m",
            "instance": srv.address,
            "job": "j",
            "exported_job": "y",
            "exported_exported_job": "other",
            "exported_instance": "x",
        }
        cfg = scrape_config({"job_name": "j", "honor_labels": True})
        (b,) = scrape_n(make_loop(srv, cfg, lambda b: None, team="t"), 1)
        assert dict(b.samples[0].labels) == {
            "__name__": "m",
            "instance": "x",
            "job": "other",
            "exported_job": "y",
            "team": "t",
        }
        # Report series always carry the target's own labels.
        assert dict(b.report[0].labels)["job"] == "j"


def test_honor_timestamps(scrape_config: Any) -> None:
    page = b"with_ts 1 1700000000000\nwithout_ts 2\n"
    with TargetServer() as srv:
        srv.set("/metrics", page)
        (b,) = scrape_n(make_loop(srv, scrape_config({"job_name": "j"}), lambda b: None), 1)
        ts = {dict(s.labels)["__name__"]: s.timestamp_ms for s in b.samples}
        assert ts == {"with_ts": 1700000000000, "without_ts": b.timestamp_ms}
        cfg = scrape_config({"job_name": "j", "honor_timestamps": False})
        (b,) = scrape_n(make_loop(srv, cfg, lambda b: None), 1)
        assert {s.timestamp_ms for s in b.samples} == {b.timestamp_ms}


def test_metric_relabel_drop_and_rewrite(scrape_config: Any) -> None:
    cfg = scrape_config(
        {
            "job_name": "j",
            "metric_relabel_configs": [
                {"source_labels": ["code"], "regex": "500", "action": "drop"},
                {
                    "source_labels": ["__name__"],
                    "regex": "temp",
                    "target_label": "kind",
                    "replacement": "env",
                },
            ],
        }
    )
    with TargetServer() as srv:
        srv.set("/metrics", PAGE)
        loop = make_loop(srv, cfg, lambda b: None)
        b1, b2 = scrape_n(loop, 2)
    names = by_name(b1)
    assert len(names["http_requests_total"]) == 1
    assert dict(names["temp"][0].labels)["kind"] == "env"
    r = report(b1)
    assert (r["scrape_samples_scraped"], r["scrape_samples_post_metric_relabeling"]) == (3, 2)
    assert report(b2)["scrape_series_added"] == 0  # second scrape: all cached
    assert loop.stats.dropped_by_relabel == 2


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        ({"sample_limit": 2}, "sample limit exceeded"),
        (
            {"label_limit": 4},
            "label_limit exceeded (metric: http_requests_total, number of labels: 5, limit: 4)",
        ),
        (
            {"label_name_length_limit": 3},
            "label_name_length_limit exceeded (metric: http_requests_total, label name: __name__, length: 8, limit: 3)",
        ),
        (
            {"label_value_length_limit": 2},
            'label_value_length_limit exceeded (metric: http_requests_total, label name: __name__, value: "http_requests_total", length: 19, limit: 2)',
        ),
    ],
)
def test_limits_fail_the_whole_scrape(
    limits: dict[str, int], error: str, scrape_config: Any
) -> None:
    with TargetServer() as srv:
        srv.set("/metrics", PAGE)
        ok = scrape_config({"job_name": "j"})
        loop = make_loop(srv, ok, lambda b: None)
        (good,) = scrape_n(loop, 1)
        # Same target (same parser/staleness state), now with the limit.
        bad = make_loop(srv, scrape_config({"job_name": "j", **limits}), lambda b: None)
        bad.inherit(loop)
        (b,) = scrape_n(bad, 1)
    assert report(b)["up"] == 0
    assert bad.last_error == error and bad.health == "down"
    # Every series of the previous (good) scrape gets a stale marker; nothing else is sent.
    assert len(b.samples) == len(good.samples)
    assert all(is_stale_nan(s.value) for s in b.samples)


def test_limit_counts_after_relabel(scrape_config: Any) -> None:
    cfg = scrape_config(
        {
            "job_name": "j",
            "sample_limit": 2,
            "metric_relabel_configs": [
                {"source_labels": ["__name__"], "regex": "temp", "action": "drop"}
            ],
        }
    )
    with TargetServer() as srv:
        srv.set("/metrics", PAGE)
        (b,) = scrape_n(make_loop(srv, cfg, lambda b: None), 1)
    assert report(b)["up"] == 1 and len(b.samples) == 2


def test_staleness_vanishing_series_failed_scrape_and_recovery(scrape_config: Any) -> None:
    pages = [PAGE, b"temp 22\n", None, b"temp 23\n"]
    with TargetServer() as srv:

        def step(i: int) -> None:
            page = pages[i]
            srv.set("/metrics", Page(b"oops", status=500) if page is None else Page(page))

        b1, b2, b3, b4 = scrape_n(
            make_loop(srv, scrape_config({"job_name": "j"}), lambda b: None), 4, step
        )
    stale2 = [s for s in b2.samples if is_stale_nan(s.value)]
    assert sorted(dict(s.labels)["code"] for s in stale2) == ["200", "500"]
    assert all(s.timestamp_ms == b2.timestamp_ms for s in stale2)
    assert [s.value for s in b2.samples if not is_stale_nan(s.value)] == [22.0]
    # A failed scrape: up=0, stale markers for the last good scrape's series.
    assert report(b3)["up"] == 0 and report(b3)["scrape_samples_scraped"] == 0
    assert [dict(s.labels)["__name__"] for s in b3.samples] == ["temp"]
    assert is_stale_nan(b3.samples[0].value)
    # Recovery: no markers (nothing was live).
    assert report(b4)["up"] == 1 and [s.value for s in b4.samples] == [23.0]


def test_timestamped_series_are_not_tracked_for_staleness(scrape_config: Any) -> None:
    pages = [b"a 1 1700000000000\nb 1\n", b""]
    with TargetServer() as srv:
        _, b2 = scrape_n(
            make_loop(srv, scrape_config({"job_name": "j"}), lambda b: None),
            2,
            lambda i: srv.set("/metrics", pages[i]),
        )
        assert [dict(s.labels)["__name__"] for s in b2.samples] == ["b"]
        cfg = scrape_config({"job_name": "j", "track_timestamps_staleness": True})
        _, b2 = scrape_n(
            make_loop(srv, cfg, lambda b: None), 2, lambda i: srv.set("/metrics", pages[i])
        )
        assert sorted(dict(s.labels)["__name__"] for s in b2.samples) == ["a", "b"]


def test_duplicate_series_are_counted_and_dropped(scrape_config: Any) -> None:
    with TargetServer() as srv:
        srv.set("/metrics", b"d 1\nd 2\ne 3\n")
        loop = make_loop(srv, scrape_config({"job_name": "j"}), lambda b: None)
        (b,) = scrape_n(loop, 1)
    assert [(dict(s.labels)["__name__"], s.value) for s in b.samples] == [("d", 1.0), ("e", 3.0)]
    assert report(b)["scrape_samples_scraped"] == 3 and loop.stats.duplicates == 1


def test_parse_error_and_bad_content_type(scrape_config: Any) -> None:
    with TargetServer() as srv:
        srv.set("/metrics", b"ok 1\nbroken{ 1\n")
        loop = make_loop(srv, scrape_config({"job_name": "j"}), lambda b: None)
        (b,) = scrape_n(loop, 1)
        assert report(b)["up"] == 0 and loop.last_error
        srv.set("/metrics", Page(b"x 1\n", content_type="application/json"))
        loop = make_loop(srv, scrape_config({"job_name": "j"}), lambda b: None)
        (b,) = scrape_n(loop, 1)
        assert report(b)["up"] == 0 and "Content-Type" in loop.last_error
        cfg = scrape_config({"job_name": "j", "fallback_scrape_protocol": "PrometheusText0.0.4"})
        (b,) = scrape_n(make_loop(srv, cfg, lambda b: None), 1)
        assert report(b)["up"] == 1


def test_openmetrics_page(scrape_config: Any) -> None:
    page = b"# TYPE c counter\nc_total 3\n# EOF\n"
    with TargetServer() as srv:
        srv.set("/metrics", Page(page, content_type=OPENMETRICS_CONTENT_TYPE))
        (b,) = scrape_n(make_loop(srv, scrape_config({"job_name": "j"}), lambda b: None), 1)
    assert [dict(s.labels)["__name__"] for s in b.samples] == ["c_total"]
    assert b.metadata["c"].type == "counter"


def test_sink_errors_do_not_break_the_loop(scrape_config: Any) -> None:
    def sink(b: ScrapeBatch) -> None:
        raise RuntimeError("queue full")

    with TargetServer() as srv:
        srv.set("/metrics", PAGE)
        loop = make_loop(srv, scrape_config({"job_name": "j"}), sink)
        b1, b2 = scrape_n(loop, 2)
    assert loop.health == "up" and math.isclose(report(b2)["up"], 1.0)


def test_relabel_removing_the_name_fails_the_scrape(scrape_config: Any) -> None:
    cfg = scrape_config(
        {
            "job_name": "j",
            "metric_relabel_configs": [{"action": "labeldrop", "regex": "__name__"}],
        }
    )
    with TargetServer() as srv:
        srv.set("/metrics", PAGE)
        loop = make_loop(srv, cfg, lambda b: None)
        (b,) = scrape_n(loop, 1)
    assert report(b)["up"] == 0 and not b.samples
    assert loop.last_error == "missing metric name (__name__ label)"


def test_bad_gzip_bodies_fail_the_scrape_with_the_error_and_recover(scrape_config: Any) -> None:
    # A gzip body is inflated while it is parsed (in the worker thread for big pages): a
    # corrupt body or one over body_size_limit must still be a failed scrape with its error,
    # stale markers for the last good scrape, and the next good scrape must recover.
    big = b"".join(b'm{i="%d",h="%x"} %d\n' % (i, i * 7919, i) for i in range(30_000))
    cfg = scrape_config({"job_name": "j", "body_size_limit": len(big) - 1})
    pages = [
        Page(b"temp 1\n"),
        Page(b"this is not gzip", gzip=False, headers={"Content-Encoding": "gzip"}),
        Page(b"temp 2\n"),
        Page(big, chunk_size=65536),  # gzipped by the server, inflated in the worker
        Page(b"temp 3\n"),
    ]
    with TargetServer() as srv:
        loop = make_loop(srv, cfg, lambda b: None)
        errors: list[str] = []

        def step(i: int) -> None:
            if i:
                errors.append(loop.last_error)
            srv.set("/metrics", pages[i])

        batches = scrape_n(loop, len(pages), step)
        errors.append(loop.last_error)
    assert [report(b)["up"] for b in batches] == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert errors[1].startswith('Get "') and "/metrics" in errors[1]
    assert errors[3] == "body size limit exceeded"
    assert errors[0] == errors[2] == errors[4] == ""
    for failed in (batches[1], batches[3]):
        assert [dict(s.labels)["__name__"] for s in failed.samples] == ["temp"]
        assert is_stale_nan(failed.samples[0].value)
    assert [s.value for s in batches[4].samples] == [3.0]
