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


@dataclass(slots=True)
class ScrapeBatch:
    """Everything one scrape of one target produced, ready for translation.

    ``metadata`` maps a metric *family* name (as exposed, e.g. ``http_requests`` for OpenMetrics
    or ``http_requests_total`` for text 0.0.4 counters) to its metadata. Translate looks
    names up the way the collector's receiver does (exact, then with a known suffix trimmed).

    ``report`` holds the synthetic series (``up``, ``scrape_duration_seconds``, ...): they are
    gauges and carry the target labels, never metric-relabelled.
    """

    target: TargetInfo
    timestamp_ms: int
    samples: list[Sample]
    metadata: Mapping[str, MetricMeta]
    report: list[Sample] = field(default_factory=list)


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
