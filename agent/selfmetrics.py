"""The agent's own metrics (``/metrics``), all named ``scrape_agent_*``.

Nothing here runs per sample. Components keep their own counters (the exporter's ``stats()``,
the translator's ``.stats``, the scrape manager's target statuses); :class:`SelfStats` adds the
few figures only the runner sees (one update per scrape, per discovery update, per reload), and
:class:`AgentCollector` reads all of them at collection time. The registry is a fresh
``CollectorRegistry`` (never the process-global one) that also carries the process collector
(CPU seconds, RSS, open fds) and the Python platform/GC collectors.

Metrics (job = scrape job):

=====================================================  =========  ==============================
scrape_agent_scrapes_total{job}                        counter    scrapes finished
scrape_agent_scrape_failures_total{job}                counter    scrapes with up == 0
scrape_agent_scrape_duration_seconds{job}              histogram  scrape_duration_seconds
scrape_agent_samples_scraped_total{job}                counter    samples in the responses
scrape_agent_samples_dropped_by_relabel_total{job}     counter    removed by metric_relabel_configs
scrape_agent_samples_dropped_by_limit_total{job}       counter    kept by relabel, refused by a limit
scrape_agent_samples_duplicate_total{job}              counter    duplicate series in a scrape
scrape_agent_stale_markers_total{job}                  counter    stale markers emitted
scrape_agent_samples_sent_to_translate_total{job}      counter    samples handed to translation
scrape_agent_targets{job,health}                       gauge      active targets by health
scrape_agent_dropped_targets{job}                      gauge      targets dropped by relabel_configs
scrape_agent_discovery_updates_total{job}              counter    target-group updates received
scrape_agent_exported_points_total                     counter    points the backend accepted
scrape_agent_export_failed_batches_total               counter
scrape_agent_export_retries_total                      counter
scrape_agent_export_dropped_points_total               counter    dropped (queue full / permanent)
scrape_agent_export_queue_{bytes,batches,points}       gauge
scrape_agent_export_queue_oldest_age_seconds           gauge
scrape_agent_export_consecutive_failures               gauge
scrape_agent_translate_pending_batches                 gauge      waiting for the translate worker
scrape_agent_translate_<stat>[_total]                  both       the translator's ``.stats``
scrape_agent_config_last_reload_successful             gauge      0/1
scrape_agent_config_last_reload_success_timestamp_seconds  gauge
scrape_agent_config_reloads_total{result}              counter    success / failure
scrape_agent_build_info{version}                       gauge      1
process_*                                                         CPU, RSS, fds
=====================================================  =========  ==============================
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from agent.model import ScrapeBatch, TargetStatus

DURATION_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

# Exporter stats() keys with a fixed metric name and type; other numeric keys become gauges
# named scrape_agent_export_<key>.
_EXPORT_COUNTERS = {
    "sent_points": ("scrape_agent_exported_points", "Points the OTLP backend accepted."),
    "sent_batches": ("scrape_agent_exported_batches", "Requests the OTLP backend accepted."),
    "sent_bytes": ("scrape_agent_exported_bytes", "Encoded bytes the OTLP backend accepted."),
    "failed_batches": ("scrape_agent_export_failed_batches", "Export requests that failed."),
    "retries": ("scrape_agent_export_retries", "Export requests retried."),
    "dropped_points": (
        "scrape_agent_export_dropped_points",
        "Points dropped by the exporter (queue full, permanent rejection, shutdown).",
    ),
    "dropped_batches": ("scrape_agent_export_dropped_batches", "Batches dropped by the exporter."),
    "sent_requests": ("scrape_agent_export_requests", "Export requests the backend accepted."),
    "rejected_points": (
        "scrape_agent_export_rejected_points",
        "Points the backend rejected permanently (4xx, non-retryable gRPC codes).",
    ),
    "partial_rejected_points": (
        "scrape_agent_export_partial_rejected_points",
        "Points rejected through OTLP partial_success.",
    ),
    "corrupt_records": (
        "scrape_agent_export_queue_corrupt_records",
        "Corrupt records skipped when replaying the disk queue.",
    ),
    "replayed_batches": (
        "scrape_agent_export_queue_replayed_batches",
        "Batches found in the disk queue at start.",
    ),
}
_EXPORT_GAUGES = {
    "queued_bytes": ("scrape_agent_export_queue_bytes", "Encoded bytes waiting to be sent."),
    "queued_batches": ("scrape_agent_export_queue_batches", "Batches waiting to be sent."),
    "queued_points": ("scrape_agent_export_queue_points", "Points waiting to be sent."),
    "oldest_age_seconds": (
        "scrape_agent_export_queue_oldest_age_seconds",
        "Age of the oldest queued batch.",
    ),
    "last_success_unix": (
        "scrape_agent_export_last_success_timestamp_seconds",
        "Time of the last accepted export request.",
    ),
    "consecutive_failures": (
        "scrape_agent_export_consecutive_failures",
        "Export attempts failed in a row (0 after a success).",
    ),
}
_JOB_COUNTERS = {
    "scrapes": ("scrape_agent_scrapes", "Scrapes finished."),
    "failures": ("scrape_agent_scrape_failures", "Scrapes that failed (up == 0)."),
    "samples_scraped": ("scrape_agent_samples_scraped", "Samples in the scraped responses."),
    "dropped_by_relabel": (
        "scrape_agent_samples_dropped_by_relabel",
        "Samples removed by metric_relabel_configs.",
    ),
    "dropped_by_limits": (
        "scrape_agent_samples_dropped_by_limit",
        "Samples refused by a limit (sample_limit, label_limit, ...).",
    ),
    "duplicates": (
        "scrape_agent_samples_duplicate",
        "Samples dropped as duplicates of a series in the same scrape.",
    ),
    "stale_markers": ("scrape_agent_stale_markers", "Stale markers emitted."),
}
# Translator stats that are gauges; its other numeric stats are counters.
_TRANSLATE_GAUGES = frozenset({"series_cached"})
_NAME_OK = re.compile(r"[^a-zA-Z0-9_]")


@dataclass(slots=True)
class JobCounters:
    """Per-job figures the runner derives from each batch's report series (``up``, ``scrape_*``)."""

    scrapes: int = 0
    failures: int = 0
    samples_scraped: int = 0
    samples_post_relabel: int = 0
    samples_dropped_by_limit: int = 0
    samples_sent: int = 0
    duration_buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum: float = 0.0

    def observe(
        self, up: bool, duration: float, scraped: int, post_relabel: int, sent: int
    ) -> None:
        self.scrapes += 1
        if not up:
            self.failures += 1
            if post_relabel > 0 and sent == 0:
                # A limit (sample_limit, label_limit, ...) refused the whole scrape.
                self.samples_dropped_by_limit += post_relabel
        self.samples_scraped += scraped
        self.samples_post_relabel += post_relabel
        self.samples_sent += sent
        self.duration_buckets[bisect.bisect_left(DURATION_BUCKETS, duration)] += 1
        self.duration_sum += duration


@dataclass(slots=True)
class ReloadStatus:
    successful: bool = False
    last_success_time: float = 0.0
    successes: int = 0
    failures: int = 0
    last_error: str = ""


def as_dict(stats: Any) -> dict[str, Any]:
    """A component's stats (a dataclass or a mapping) as a dict."""
    if stats is None:
        return {}
    if dataclasses.is_dataclass(stats) and not isinstance(stats, type):
        return dataclasses.asdict(stats)
    return dict(stats)


def _finite(v: float) -> float:
    return v if math.isfinite(v) else 0.0


def _report_values(report: Sequence[Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in report:
        for k, v in s.labels:
            if k == "__name__":
                out[v] = s.value
                break
    return out


class SelfStats:
    """The figures only the runner sees, plus hooks to read the components' own counters.

    The hooks are plain callables set by the runner once the components exist; until then the
    corresponding metrics are simply absent.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, JobCounters] = {}
        self.discovery_updates: dict[str, int] = {}
        self.reload = ReloadStatus()
        self.started = time.time()
        self._lock = threading.Lock()
        # job -> an object with the scrape manager's per-job counters (``scrapes``, ``failures``,
        # ``samples_scraped``, ``dropped_by_relabel``, ``dropped_by_limits``, ``duplicates``,
        # ``stale_markers``); when set, these replace the runner's own figures.
        self.job_stats: Callable[[], Mapping[str, Any]] | None = None
        # The exporter's stats() and the translator's .stats: a mapping or a dataclass.
        self.exporter_stats: Callable[[], Any] | None = None
        self.translator_stats: Callable[[], Any] | None = None
        self.target_statuses: Callable[[], Sequence[TargetStatus]] | None = None
        self.dropped_target_counts: Callable[[], Mapping[str, int]] | None = None
        self.pending_translation: Callable[[], int] | None = None

    def observe_batch(self, batch: ScrapeBatch) -> None:
        """One call per scrape: reads the batch's report series, never its samples."""
        r = _report_values(batch.report)
        up_value = r.get("up", 1.0)
        if up_value != up_value:
            # End-of-run staleness of a departed target: its report series are stale markers
            # (NaN). Not a scrape; nothing to count.
            return
        up = up_value == 1.0
        job = batch.target.job
        c = self.jobs.get(job)
        if c is None:
            with self._lock:
                c = self.jobs.setdefault(job, JobCounters())
        c.observe(
            up,
            _finite(r.get("scrape_duration_seconds", 0.0)),
            int(_finite(r.get("scrape_samples_scraped", 0))),
            int(_finite(r.get("scrape_samples_post_metric_relabeling", batch.size))),
            batch.size,
        )

    def observe_discovery(self, job: str, groups: int = 1) -> None:
        self.discovery_updates[job] = self.discovery_updates.get(job, 0) + groups

    def reload_succeeded(self, when: float | None = None) -> None:
        self.reload.successful = True
        self.reload.last_success_time = time.time() if when is None else when
        self.reload.successes += 1
        self.reload.last_error = ""

    def reload_failed(self, error: str) -> None:
        self.reload.successful = False
        self.reload.failures += 1
        self.reload.last_error = error

    def forget_jobs(self, keep: set[str]) -> None:
        """Drop per-job series of jobs no longer configured."""
        with self._lock:
            for job in [j for j in self.jobs if j not in keep]:
                del self.jobs[job]
            for job in [j for j in self.discovery_updates if j not in keep]:
                del self.discovery_updates[job]


class AgentCollector(Collector):
    """Reads :class:`SelfStats` and the component hooks at scrape time of ``/metrics``."""

    def __init__(self, stats: SelfStats, version: str = "") -> None:
        self._s = stats
        self._version = version

    def collect(self) -> Iterator[Metric]:
        yield from self._scrape_metrics()
        yield from self._target_metrics()
        yield from self._export_metrics()
        yield from self._translate_metrics()
        yield from self._config_metrics()

    def _scrape_metrics(self) -> Iterator[Metric]:
        s = self._s
        jobs = sorted(s.jobs.items())
        counters: dict[str, dict[str, float]] = {}
        for job, c in jobs:
            counters[job] = {
                "scrapes": c.scrapes,
                "failures": c.failures,
                "samples_scraped": c.samples_scraped,
                "dropped_by_relabel": max(0, c.samples_scraped - c.samples_post_relabel),
                "dropped_by_limits": c.samples_dropped_by_limit,
            }
        if s.job_stats is not None:
            for job, js in s.job_stats().items():
                d = counters.setdefault(job, {})
                for key in (*_JOB_COUNTERS, "duplicates", "stale_markers"):
                    v = getattr(js, key, None)
                    if isinstance(v, (int, float)):
                        d[key] = v
        for key, (name, doc) in _JOB_COUNTERS.items():
            m = CounterMetricFamily(name, doc, labels=["job"])
            for job, d in sorted(counters.items()):
                if key in d:
                    m.add_metric([job], d[key])
            yield m
        sent = CounterMetricFamily(
            "scrape_agent_samples_sent_to_translate",
            "Samples handed to OTLP translation.",
            labels=["job"],
        )
        for job, c in jobs:
            sent.add_metric([job], c.samples_sent)
        yield sent
        h = HistogramMetricFamily(
            "scrape_agent_scrape_duration_seconds", "Duration of scrapes.", labels=["job"]
        )
        for job, c in jobs:
            acc = 0
            buckets: list[tuple[str, float]] = []
            for bound, n in zip((*DURATION_BUCKETS, float("inf")), c.duration_buckets, strict=True):
                acc += n
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), acc))
            h.add_metric([job], buckets, c.duration_sum)
        yield h
        du = CounterMetricFamily(
            "scrape_agent_discovery_updates",
            "Target-group updates received from service discovery.",
            labels=["job"],
        )
        for job, n in sorted(s.discovery_updates.items()):
            du.add_metric([job], n)
        yield du

    def _target_metrics(self) -> Iterator[Metric]:
        s = self._s
        if s.target_statuses is not None:
            counts: dict[tuple[str, str], int] = {}
            for t in s.target_statuses():
                key = (t.scrape_pool, t.health)
                counts[key] = counts.get(key, 0) + 1
            g = GaugeMetricFamily(
                "scrape_agent_targets", "Active targets by health.", labels=["job", "health"]
            )
            for (job, health), n in sorted(counts.items()):
                g.add_metric([job, health], n)
            yield g
        if s.dropped_target_counts is not None:
            g = GaugeMetricFamily(
                "scrape_agent_dropped_targets",
                "Discovered targets dropped by relabel_configs.",
                labels=["job"],
            )
            for job, n in sorted(s.dropped_target_counts().items()):
                g.add_metric([job], n)
            yield g

    def _export_metrics(self) -> Iterator[Metric]:
        if self._s.exporter_stats is None:
            return
        stats = as_dict(self._s.exporter_stats())
        for key, value in stats.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if key in _EXPORT_COUNTERS:
                name, doc = _EXPORT_COUNTERS[key]
                yield CounterMetricFamily(name, doc, value=value)
            elif key in _EXPORT_GAUGES:
                name, doc = _EXPORT_GAUGES[key]
                yield GaugeMetricFamily(name, doc, value=value)
            else:
                name = "scrape_agent_export_" + _NAME_OK.sub("_", key)
                if name.endswith("_total"):
                    yield CounterMetricFamily(
                        name[: -len("_total")], f"Exporter {key}.", value=value
                    )
                else:
                    yield GaugeMetricFamily(name, f"Exporter {key}.", value=value)

    def _translate_metrics(self) -> Iterator[Metric]:
        s = self._s
        if s.pending_translation is not None:
            yield GaugeMetricFamily(
                "scrape_agent_translate_pending_batches",
                "Scrape batches waiting for the translate worker.",
                value=s.pending_translation(),
            )
        if s.translator_stats is None:
            return
        stats = as_dict(s.translator_stats())
        for key, value in stats.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            name = "scrape_agent_translate_" + _NAME_OK.sub("_", key).removesuffix("_total")
            if key in _TRANSLATE_GAUGES:
                yield GaugeMetricFamily(name, f"Translator {key}.", value=value)
            else:
                yield CounterMetricFamily(name, f"Translator {key}.", value=value)

    def _config_metrics(self) -> Iterator[Metric]:
        r = self._s.reload
        yield GaugeMetricFamily(
            "scrape_agent_config_last_reload_successful",
            "Whether the last configuration (re)load succeeded.",
            value=1 if r.successful else 0,
        )
        yield GaugeMetricFamily(
            "scrape_agent_config_last_reload_success_timestamp_seconds",
            "Time of the last successful configuration load.",
            value=r.last_success_time,
        )
        c = CounterMetricFamily(
            "scrape_agent_config_reloads", "Configuration (re)loads.", labels=["result"]
        )
        c.add_metric(["success"], r.successes)
        c.add_metric(["failure"], r.failures)
        yield c
        b = GaugeMetricFamily(
            "scrape_agent_build_info", "Always 1; the version as a label.", labels=["version"]
        )
        b.add_metric([self._version], 1)
        yield b
        yield GaugeMetricFamily(
            "scrape_agent_start_time_seconds", "Start time of the agent.", value=self._s.started
        )


def build_registry(stats: SelfStats, version: str = "") -> CollectorRegistry:
    """A fresh registry with the agent collector, process, platform and GC collectors."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentCollector(stats, version))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry
