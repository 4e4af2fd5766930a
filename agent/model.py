"""Values that cross pipeline stages.

The chain is config -> discovery -> targets -> scrape (HTTP + parse) -> metric relabel ->
translate (OTLP) -> export. Each boundary passes one of the small values below, and nothing
richer: a stage never reaches into another stage's objects.

- discovery -> targets: ``TargetGroup`` (as Prometheus' ``targetgroup.Group``).
- scrape -> translate: ``ScrapeBatch``: the samples of one scrape of one target *after*
  target labels and metric_relabel_configs were applied, with the scrape's metadata, plus the
  report series (``up``, ``scrape_*``) and stale markers.
- translate -> export: encoded OTLP ``ExportMetricsServiceRequest`` bytes (``EncodedBatch``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

# A label set in canonical form: (name, value) pairs sorted by name, names unique, no empty
# values. It includes "__name__". Tuples are hashable, so a label set can key a cache.
Labels = tuple[tuple[str, str], ...]

# Prometheus' staleness marker: a NaN with a specific bit pattern (model/value/value.go).
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def is_stale_nan(v: float) -> bool:
    """True for Prometheus' StaleNaN (and only for it, not for an ordinary NaN)."""
    return v != v and struct.pack("<d", v) == struct.pack("<Q", STALE_NAN_BITS)


def labels_from_mapping(m: Mapping[str, str]) -> Labels:
    """Canonical ``Labels`` from a mapping; empty values are dropped (empty == absent)."""
    return tuple(sorted((k, v) for k, v in m.items() if v != ""))


@dataclass(frozen=True, slots=True)
class TargetGroup:
    """A set of targets sharing common labels, as produced by one discovery source.

    ``source`` identifies the group within its discoverer (e.g. ``"pod/ns/name"`` or
    ``"0"`` for the first static_configs entry). A group with an empty ``targets`` list means
    "everything this source gave before is gone".
    """

    source: str
    targets: tuple[Mapping[str, str], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricMeta:
    """Metadata of a metric family as exposed in the scrape (``# TYPE``/``# HELP``/``# UNIT``).

    ``type`` is one of: counter, gauge, histogram, gaugehistogram, summary, info, stateset,
    unknown.
    """

    type: str = "unknown"
    help: str = ""
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Exemplar:
    labels: Labels
    value: float
    timestamp_ms: int | None = None


@dataclass(slots=True)
class Sample:
    """One sample after target labels and metric relabelling.

    ``labels`` includes ``__name__``, ``job`` and ``instance`` (unless relabelling removed
    them). ``timestamp_ms`` is the sample's own timestamp when honoured, else the scrape time.
    ``value`` may be ``STALE_NAN`` for a stale marker.
    """

    labels: Labels
    value: float
    timestamp_ms: int
    exemplar: Exemplar | None = None


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What translate needs to know about the target a batch came from."""

    job: str
    instance: str
    scheme: str
    # Labels before relabelling (the receiver takes url.scheme and k8s.* from these).
    discovered_labels: Mapping[str, str] = field(default_factory=dict)


class Series:
    """One final series (label set after target labels and metric relabelling) of one target.

    The scrape stage keeps one ``Series`` per distinct label set of a target across scrapes and
    hands the same object to translate every time, so a stage after it can keep per-series
    work on the object instead of hashing the label tuple again (three hashes per sample
    otherwise, ~0.25 µs each on a kube-state-metrics page). ``stamp`` is the scrape stage's own
    (the iteration that last wrote the series: duplicates and staleness); ``tr`` is an opaque
    slot for translate, which must check that what it finds there is its own and current.
    """

    __slots__ = ("labels", "stamp", "tr")

    def __init__(self, labels: Labels) -> None:
        self.labels = labels
        self.stamp = 0
        self.tr: object = None

    def __repr__(self) -> str:
        return f"Series({self.labels!r})"


class ScrapeBatch:
    """Everything one scrape of one target produced, ready for translation.

    The samples come in up to three parts, translated in this order:

    - columns: ``series[i]`` had ``values[i]`` at ``timestamps[i]`` (or at ``timestamp_ms``
      when ``timestamps`` is None), with ``exemplars.get(i)``; this is what the scrape loop
      produces (no per-sample object);
    - ``stale``: series that got a stale marker (``STALE_NAN`` at ``timestamp_ms``);
    - ``extra``: plain :class:`Sample` objects (the ``samples`` constructor argument; tests,
      tools and other producers).

    ``samples`` gives all three as ``Sample`` objects (built on each call: not for hot paths);
    ``size`` counts them.

    ``metadata`` maps a metric *family* name (as exposed, e.g. ``http_requests`` for OpenMetrics
    or ``http_requests_total`` for text 0.0.4 counters) to its metadata. Translate looks
    names up the way the collector's receiver does (exact, then with a known suffix trimmed).

    ``report`` holds the synthetic series (``up``, ``scrape_duration_seconds``, ...): they are
    gauges and carry the target labels, never metric-relabelled.
    """

    __slots__ = (
        "target",
        "timestamp_ms",
        "metadata",
        "report",
        "series",
        "values",
        "timestamps",
        "exemplars",
        "stale",
        "extra",
    )

    def __init__(
        self,
        target: TargetInfo,
        timestamp_ms: int,
        samples: list[Sample] | None = None,
        metadata: Mapping[str, MetricMeta] | None = None,
        report: list[Sample] | None = None,
        *,
        series: list[Series] | None = None,
        values: list[float] | None = None,
        timestamps: list[int] | None = None,
        exemplars: dict[int, Exemplar] | None = None,
        stale: list[Series] | None = None,
    ) -> None:
        self.target = target
        self.timestamp_ms = timestamp_ms
        self.metadata: Mapping[str, MetricMeta] = {} if metadata is None else metadata
        self.report: list[Sample] = [] if report is None else report
        self.series: list[Series] = [] if series is None else series
        self.values: list[float] = [] if values is None else values
        if len(self.series) != len(self.values):
            raise ValueError("ScrapeBatch: series and values differ in length")
        self.timestamps = timestamps
        self.exemplars = exemplars
        self.stale: list[Series] = [] if stale is None else stale
        self.extra: list[Sample] = [] if samples is None else samples

    @property
    def size(self) -> int:
        """Samples in the batch, without the report series."""
        return len(self.series) + len(self.stale) + len(self.extra)

    @property
    def samples(self) -> list[Sample]:
        ts = self.timestamp_ms
        stamps = self.timestamps
        ex = self.exemplars or {}
        out = [
            Sample(s.labels, v, ts if stamps is None else stamps[i], ex.get(i))
            for i, (s, v) in enumerate(zip(self.series, self.values, strict=True))
        ]
        out.extend(Sample(s.labels, STALE_NAN, ts) for s in self.stale)
        out.extend(self.extra)
        return out

    def __repr__(self) -> str:
        return (
            f"ScrapeBatch(job={self.target.job!r}, instance={self.target.instance!r}, "
            f"ts={self.timestamp_ms}, size={self.size}, report={len(self.report)})"
        )


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """An encoded OTLP ExportMetricsServiceRequest ready for the queue."""

    payload: bytes  # protobuf bytes; gzip-compressed when ``codec == CODEC_GZIP``
    points: int
    created_unix: float
    codec: int = 0  # CODEC_RAW (0) or CODEC_GZIP (1, one gzip member)
    raw_size: int = 0  # uncompressed bytes when compressed (0: len(payload))


CODEC_RAW = 0
CODEC_GZIP = 1


def is_nan(v: float) -> bool:
    return math.isnan(v)


@dataclass(slots=True)
class TargetStatus:
    """One active target as the targets API shows it (Prometheus' /api/v1/targets shape)."""

    scrape_pool: str
    scrape_url: str
    discovered_labels: Mapping[str, str]
    labels: Mapping[str, str]
    health: str = "unknown"  # "up" | "down" | "unknown"
    last_error: str = ""
    last_scrape: float | None = None  # unix seconds of the last scrape's start
    last_scrape_duration: float = 0.0
    scrape_interval: float = 0.0
    scrape_timeout: float = 0.0


@dataclass(slots=True)
class DroppedTarget:
    scrape_pool: str
    discovered_labels: Mapping[str, str]
