"""Per-target sample processing: target labels, honor_labels, metric relabelling, limits,
timestamps and staleness, as Prometheus' ``scrapeLoop.append`` / ``mutateSampleLabels``.

``SeriesProcessor`` belongs to one target's loop (never used by two scrapes at once). It keeps

- a cache from the raw series text of the exposition to its final ``Labels`` (or "dropped"),
  so a series seen last scrape costs one dict lookup;
- the label sets written by the previous successful scrape, to emit stale markers for the
  ones that vanish (or for all of them when a scrape fails or the target goes away).

The cache is keyed by series text, ahead of relabelling, so ``relabel.process`` runs only for
series never seen before (``relabel.Relabeler``'s own cache would hold a second copy of every
label set). Label pairs are interned per target: the series of one target share most pairs.

External labels: Prometheus itself never adds ``global.external_labels`` to scraped series (it
applies them on remote write and federation), but the collector's prometheus receiver, which
scrape-agent replaces, sets them on every series, overwriting a scraped label of the same
name. The agent ships what the receiver would, so ``external_labels`` are applied here, after
metric relabelling and limits, with overwrite (report series included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import relabel
from agent.config import ScrapeConfig
from agent.model import STALE_NAN, Exemplar, Labels, MetricMeta, Sample
from agent.scrape.targets import Target

REPORT_NAMES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)
EXPORTED_PREFIX = "exported_"
SAMPLE_LIMIT_ERROR = "sample limit exceeded"
NAME_MANDATORY_ERROR = "missing metric name (__name__ label)"


class ParseResult(Protocol):
    samples: Sequence[tuple[str, float, int | None, Exemplar | None]]
    metadata: Mapping[str, MetricMeta]


class Parser(Protocol):
    def parse(self, body: bytes, content_type: str) -> Any: ...
    def series_labels(self, series_text: str) -> tuple[str, Sequence[tuple[str, str]]]: ...
    def sweep(self) -> None: ...


class LimitError(Exception):
    pass


@dataclass(slots=True)
class _Entry:
    labels: Labels | None  # None: dropped by metric relabelling
    error: str | None = None  # a label limit this series breaks
    seen: int = 0  # scrape iteration that last saw it


@dataclass(slots=True)
class Outcome:
    samples: list[Sample]
    scraped: int = 0  # scrape_samples_scraped
    post_relabel: int = 0  # scrape_samples_post_metric_relabeling
    series_added: int = 0
    dropped_by_relabel: int = 0
    duplicates: int = 0
    error: str | None = None
    stale: list[Sample] = field(default_factory=list)


def mutate_sample_labels(
    name: str,
    scraped: Iterable[tuple[str, str]],
    target_labels: Labels,
    honor: bool,
) -> dict[str, str]:
    """Scraped labels plus target labels, as Prometheus' ``mutateSampleLabels`` (no relabel)."""
    lb: dict[str, str] = {k: v for k, v in scraped if v != ""}
    lb["__name__"] = name
    if honor:
        for k, v in target_labels:
            if k not in lb:
                lb[k] = v
        return lb
    conflicts: list[tuple[str, str]] = []
    for k, v in target_labels:
        existing = lb.get(k, "")
        if existing != "":
            conflicts.append((k, existing))
        lb[k] = v
    if conflicts:
        conflicts.sort(key=lambda kv: len(kv[0]))  # stable, as slices.SortStableFunc
        for k, v in conflicts:
            new = k
            while True:
                new = EXPORTED_PREFIX + new
                if lb.get(new, "") == "":
                    lb[new] = v
                    break
    return lb


def check_label_limits(labels: Labels, cfg: ScrapeConfig) -> str | None:
    """Prometheus' ``verifyLabelLimits`` message, or None."""
    met = dict(labels).get("__name__", "")[:50]
    if cfg.label_limit > 0 and len(labels) > cfg.label_limit:
        return (
            f"label_limit exceeded (metric: {met}, number of labels: {len(labels)}, "
            f"limit: {cfg.label_limit})"
        )
    nl, vl = cfg.label_name_length_limit, cfg.label_value_length_limit
    if nl == 0 and vl == 0:
        return None
    for k, v in labels:
        if nl > 0 and len(k.encode()) > nl:
            return (
                f"label_name_length_limit exceeded (metric: {met}, label name: {k[:50]}, "
                f"length: {len(k.encode())}, limit: {nl})"
            )
        if vl > 0 and len(v.encode()) > vl:
            return (
                f"label_value_length_limit exceeded (metric: {met}, label name: {k[:50]}, "
                f'value: "{v[:50]}", length: {len(v.encode())}, limit: {vl})'
            )
    return None


def report_labels(name: str, target_labels: Labels, external: Mapping[str, str]) -> Labels:
    """Report series labels: target labels win (``mutateReportSampleLabels``), never relabelled."""
    d = dict(target_labels)
    d["__name__"] = name
    d.update({k: v for k, v in external.items() if v != ""})
    return tuple(sorted(d.items()))


class SeriesProcessor:
    """Turns one parse result of one target into final samples (see module docstring)."""

    def __init__(
        self,
        target: Target,
        cfg: ScrapeConfig,
        external_labels: Mapping[str, str] | None = None,
    ) -> None:
        self.target = target
        self.cfg = cfg
        self.external = {k: v for k, v in (external_labels or {}).items() if v != ""}
        self._cache: dict[str, _Entry] = {}
        self._iter = 0
        self.prev: set[Labels] = set()  # series written by the last scrape (for staleness)
        self._last_cache_size = 0
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}
        self._label_limits = bool(
            cfg.label_limit or cfg.label_name_length_limit or cfg.label_value_length_limit
        )

    def inherit(self, other: SeriesProcessor) -> None:
        """Keep staleness state across a config reload (the cache is rebuilt: rules changed)."""
        self.prev = other.prev

    def _intern(self, items: Iterable[tuple[str, str]]) -> Labels:
        # Series of one target share most label pairs (job, instance, namespace, pod ...):
        # keep one tuple per distinct pair. Bounded: reset when it outgrows the cache.
        pairs = self._pairs
        if len(pairs) > 4 * len(self._cache) + 10_000:
            pairs = self._pairs = {}
        return tuple([pairs.setdefault(kv, kv) for kv in sorted(items)])

    def _resolve(self, parser: Parser, series: str) -> _Entry:
        name, raw = parser.series_labels(series)
        lb = mutate_sample_labels(name, raw, self.target.labels, self.cfg.honor_labels)
        if self.cfg.metric_relabel_configs:
            out = relabel.process(lb, self.cfg.metric_relabel_configs)
            if out is None:
                return _Entry(None)
            lb = {k: v for k, v in out.items() if v != ""}
            if not lb:
                return _Entry(None)
            if "__name__" not in lb:  # Prometheus fails the scrape (errNameLabelMandatory)
                return _Entry(self._intern(lb.items()), NAME_MANDATORY_ERROR)
        err = None
        if self._label_limits:
            err = check_label_limits(tuple(sorted(lb.items())), self.cfg)
        if self.external:
            lb.update(self.external)
        return _Entry(self._intern(lb.items()), err)

    def process(self, parser: Parser, result: ParseResult, ts_ms: int) -> Outcome:
        """All samples of a successful parse; on a limit breach ``error`` is set and ``samples``
        holds only stale markers for the previous scrape's series."""
        self._iter += 1
        it = self._iter
        cache = self._cache
        honor_ts = self.cfg.honor_timestamps
        track_ts_stale = self.cfg.track_timestamps_staleness
        sample_limit = self.cfg.sample_limit
        out: list[Sample] = []
        append = out.append
        seen: set[Labels] = set()
        add = seen.add
        untracked: list[Labels] = []  # explicit timestamps: no staleness tracking
        o = Outcome(out)
        error: str | None = None
        scraped = touched = dropped = dups = 0
        for series, value, ts, exemplar in result.samples:
            scraped += 1
            entry = cache.get(series)
            if entry is None:
                entry = self._resolve(parser, series)
                cache[series] = entry
                if entry.labels is not None:
                    o.series_added += 1
            if entry.seen != it:
                entry.seen = it
                touched += 1
            lbls = entry.labels
            if lbls is None:
                dropped += 1
                continue
            if entry.error is not None:
                error = entry.error
                break
            n_seen = len(seen)
            add(lbls)  # one hash of the label tuple (tuples don't cache theirs), not two
            if len(seen) == n_seen:
                dups += 1  # same series twice in one scrape: later ones dropped
                continue
            if sample_limit > 0 and len(out) >= sample_limit:
                error = SAMPLE_LIMIT_ERROR  # keep counting, as Prometheus' limitAppender
                continue
            if ts is not None and honor_ts:
                append(Sample(lbls, value, ts, exemplar))
                if not track_ts_stale:
                    untracked.append(lbls)
            else:
                append(Sample(lbls, value, ts_ms, exemplar))
        o.scraped = scraped
        o.dropped_by_relabel = dropped
        o.duplicates = dups
        if error is not None:
            o.post_relabel = len(seen) + dups
            o.error = error
            o.samples = []
            o.stale = self.fail(ts_ms)
            self._gc(flush=False, touched=touched)
            return o
        o.post_relabel = scraped - dropped
        cur = seen.difference(untracked) if untracked else seen
        o.stale = [Sample(lb, STALE_NAN, ts_ms) for lb in self.prev - cur]
        self.prev = cur
        self._gc(flush=True, touched=touched)
        return o

    def fail(self, ts_ms: int) -> list[Sample]:
        """A failed scrape: stale markers for every series of the last one."""
        stale = [Sample(lb, STALE_NAN, ts_ms) for lb in self.prev]
        self.prev = set()
        return stale

    def _gc(self, flush: bool, touched: int) -> None:
        # As Prometheus' scrapeCache.iterDone: drop entries unseen this scrape after a
        # success, or when failed scrapes made the cache balloon.
        size = len(self._cache)
        if not flush and size > self._last_cache_size * 2 + 1000:
            flush = True
        if flush and touched < size:
            it = self._iter
            self._cache = {k: e for k, e in self._cache.items() if e.seen == it}
        if flush:
            self._last_cache_size = len(self._cache)

    def report(
        self,
        ts_ms: int,
        up: bool,
        duration: float,
        o: Outcome | None,
    ) -> list[Sample]:
        vals = (
            1.0 if up else 0.0,
            duration,
            float(o.scraped if o else 0),
            float(o.post_relabel if o else 0),
            float(o.series_added if o else 0),
        )
        return [
            Sample(report_labels(n, self.target.labels, self.external), v, ts_ms)
            for n, v in zip(REPORT_NAMES, vals, strict=True)
        ]

    def stale_report(self, ts_ms: int) -> list[Sample]:
        return [
            Sample(report_labels(n, self.target.labels, self.external), STALE_NAN, ts_ms)
            for n in REPORT_NAMES
        ]
