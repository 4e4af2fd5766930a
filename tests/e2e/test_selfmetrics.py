from __future__ import annotations

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent.model import (
    Sample,
    ScrapeBatch,
    TargetInfo,
    TargetStatus,
    labels_from_mapping,
)
from agent.selfmetrics import SelfStats, build_registry


def _batch(job: str, up: float, duration: float, scraped: int, post: int, kept: int) -> ScrapeBatch:
    def rep(name: str, v: float) -> Sample:
        return Sample(labels_from_mapping({"__name__": name, "job": job, "instance": "i"}), v, 1000)

    samples = [
        Sample(labels_from_mapping({"__name__": "m", "job": job, "k": str(i)}), 1.0, 1000)
        for i in range(kept)
    ]
    return ScrapeBatch(
        target=TargetInfo(job=job, instance="i", scheme="http"),
        timestamp_ms=1000,
        samples=samples,
        metadata={},
        report=[
            rep("up", up),
            rep("scrape_duration_seconds", duration),
            rep("scrape_samples_scraped", scraped),
            rep("scrape_samples_post_metric_relabeling", post),
        ],
    )


def _values(stats: SelfStats) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(build_registry(stats, "9.9.9")).decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_scrape_counters_from_report_series() -> None:
    st = SelfStats()
    st.observe_batch(_batch("ksm", 1, 0.2, 100, 60, 60))
    st.observe_batch(_batch("ksm", 1, 0.03, 100, 60, 60))
    st.observe_batch(_batch("ksm", 0, 1.5, 100, 60, 0))  # sample_limit refused the scrape
    st.observe_discovery("ksm", 2)
    v = _values(st)
    job = (("job", "ksm"),)
    assert v[("scrape_agent_scrapes_total", job)] == 3
    assert v[("scrape_agent_scrape_failures_total", job)] == 1
    assert v[("scrape_agent_samples_scraped_total", job)] == 300
    assert v[("scrape_agent_samples_dropped_by_relabel_total", job)] == 120
    assert v[("scrape_agent_samples_dropped_by_limit_total", job)] == 60
    assert v[("scrape_agent_samples_sent_to_translate_total", job)] == 120
    assert v[("scrape_agent_discovery_updates_total", job)] == 2
    assert v[("scrape_agent_scrape_duration_seconds_count", job)] == 3
    assert abs(v[("scrape_agent_scrape_duration_seconds_sum", job)] - 1.73) < 1e-9
    assert v[("scrape_agent_scrape_duration_seconds_bucket", (("job", "ksm"), ("le", "0.05")))] == 1
    assert v[("scrape_agent_scrape_duration_seconds_bucket", (("job", "ksm"), ("le", "0.25")))] == 2
    assert v[("scrape_agent_scrape_duration_seconds_bucket", (("job", "ksm"), ("le", "+Inf")))] == 3


def test_component_hooks_and_reload_state() -> None:
    st = SelfStats()
    st.exporter_stats = lambda: {
        "sent_points": 1234,
        "queued_bytes": 10,
        "queued_points": 5,
        "oldest_age_seconds": 2.5,
        "retries": 3,
        "failed_batches": 1,
        "consecutive_failures": 0,
        "last_error": "not a number",
        "bytes_on_disk": 7,
    }
    st.translator_stats = lambda: {"points_out": 42, "series_cached": 9}
    st.pending_translation = lambda: 4
    st.target_statuses = lambda: [
        TargetStatus("ksm", "http://a/metrics", {}, {}, health="up"),
        TargetStatus("ksm", "http://b/metrics", {}, {}, health="down"),
        TargetStatus("cad", "http://c/metrics", {}, {}, health="up"),
    ]
    st.dropped_target_counts = lambda: {"ksm": 7}
    st.reload_succeeded(when=1700000000.0)
    st.reload_failed("bad yaml")
    v = _values(st)
    assert v[("scrape_agent_exported_points_total", ())] == 1234
    assert v[("scrape_agent_export_queue_bytes", ())] == 10
    assert v[("scrape_agent_export_queue_oldest_age_seconds", ())] == 2.5
    assert v[("scrape_agent_export_retries_total", ())] == 3
    assert v[("scrape_agent_export_bytes_on_disk", ())] == 7
    assert v[("scrape_agent_translate_points_out_total", ())] == 42
    assert v[("scrape_agent_translate_series_cached", ())] == 9
    assert v[("scrape_agent_translate_pending_batches", ())] == 4
    assert v[("scrape_agent_targets", (("health", "down"), ("job", "ksm")))] == 1
    assert v[("scrape_agent_targets", (("health", "up"), ("job", "cad")))] == 1
    assert v[("scrape_agent_dropped_targets", (("job", "ksm"),))] == 7
    assert v[("scrape_agent_config_last_reload_successful", ())] == 0
    assert v[("scrape_agent_config_last_reload_success_timestamp_seconds", ())] == 1700000000.0
    assert v[("scrape_agent_config_reloads_total", (("result", "failure"),))] == 1
    assert v[("scrape_agent_build_info", (("version", "9.9.9"),))] == 1
    assert ("process_resident_memory_bytes", ()) in v
    assert ("process_cpu_seconds_total", ()) in v


def test_forget_jobs_removes_series() -> None:
    st = SelfStats()
    st.observe_batch(_batch("old", 1, 0.1, 1, 1, 1))
    st.observe_batch(_batch("new", 1, 0.1, 1, 1, 1))
    st.forget_jobs({"new"})
    v = _values(st)
    assert ("scrape_agent_scrapes_total", (("job", "new"),)) in v
    assert ("scrape_agent_scrapes_total", (("job", "old"),)) not in v


def test_scrape_manager_counters_replace_own_figures() -> None:
    from agent.scrape.loop import JobStats

    st = SelfStats()
    st.observe_batch(_batch("ksm", 1, 0.2, 100, 60, 60))
    st.job_stats = lambda: {
        "ksm": JobStats(
            scrapes=5,
            failures=2,
            samples_scraped=500,
            dropped_by_relabel=200,
            dropped_by_limits=7,
            duplicates=1,
            stale_markers=3,
        ),
        "idle": JobStats(),
    }
    v = _values(st)
    job = (("job", "ksm"),)
    assert v[("scrape_agent_scrapes_total", job)] == 5
    assert v[("scrape_agent_scrape_failures_total", job)] == 2
    assert v[("scrape_agent_samples_dropped_by_relabel_total", job)] == 200
    assert v[("scrape_agent_samples_dropped_by_limit_total", job)] == 7
    assert v[("scrape_agent_samples_duplicate_total", job)] == 1
    assert v[("scrape_agent_stale_markers_total", job)] == 3
    assert v[("scrape_agent_scrapes_total", (("job", "idle"),))] == 0
    # the duration histogram is the runner's own (one observation per scrape)
    assert v[("scrape_agent_scrape_duration_seconds_count", job)] == 1


def test_stale_report_of_a_departed_target_is_not_a_scrape() -> None:
    from agent.model import STALE_NAN

    st = SelfStats()
    st.observe_batch(_batch("ksm", 1, 0.2, 100, 60, 60))
    st.observe_batch(_batch("ksm", STALE_NAN, STALE_NAN, STALE_NAN, STALE_NAN, 0))
    v = _values(st)
    assert v[("scrape_agent_scrapes_total", (("job", "ksm"),))] == 1
    assert v[("scrape_agent_scrape_failures_total", (("job", "ksm"),))] == 0
