"""Prometheus samples -> OTLP ``ExportMetricsServiceRequest`` bytes, as the collector's receiver.

Public API::

    from agent.translate import Translator
    tr = Translator(cfg.agent)              # env: OTEL_RESOURCE_ATTRIBUTES (default os.environ)
    for enc in tr.translate(batch):          # agent.model.ScrapeBatch -> [agent.model.EncodedBatch]
        exporter.submit(enc)
    tr.forget(job, instance)                 # target gone: drop its cached state

Behaviour follows the OpenTelemetry Collector's ``prometheus`` receiver (see
/work/shared/REFERENCE.md §2): one ResourceMetrics per (job, instance) taken from each sample's
labels; types from the scrape metadata with the receiver's suffix-trimming lookup; histograms and
summaries assembled from their ``_bucket``/``_count``/``_sum``/``_created`` series; stale markers
as ``NoRecordedValue`` points; ``target_info`` folded into the resource.

Decisions where the receiver gives no answer:

- Scope: default name is the receiver's
  (``github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver``)
  so dashboards built on it keep working; the version is scrape-agent's.
- Start times (``agent.start_time``): ``"true_reset_point"`` (default) does what the collector's
  ``metricstarttime`` processor does with that strategy: first sighting start = its timestamp,
  later points keep it, a reset (value, or histogram/summary count or sum, decreasing) sets the
  start to the reset point's timestamp - 1 ms; stale points reuse the start and do not update
  state; a ``_created`` sample wins over all of that. ``"none"``: start only from ``_created``
  (the receiver's current behaviour). State is per target and dropped for series unseen for
  ``STATE_TTL_SCRAPES`` scrapes of that target, and on ``forget()``.
- Resource attribute precedence (later wins): ``OTEL_RESOURCE_ATTRIBUTES`` <
  ``agent.resource_attributes`` < ``agent.cluster_name`` (``k8s.cluster.name``) < the
  receiver's attributes (``service.name``, ``server.*``, ``url.scheme``, ``k8s.*``) <
  ``target_info`` labels.
- Histograms whose cumulative buckets decrease (or whose ``_count`` is below the last finite
  bucket), with a missing/bad ``le``, or without ``_count`` are dropped and counted in
  ``stats.dropped_points``; summaries without ``_count`` or with a bad ``quantile`` likewise.
- A sample whose timestamp does not fit OTLP's fixed64 nanoseconds (before 1970, after 2554)
  is dropped and counted (the receiver would wrap it around; Prometheus' TSDB refuses it); a
  ``_created`` value that is not a usable time is ignored.
- Requests are split so none exceeds ``queue.batch_max_points`` points or
  ``queue.batch_max_bytes`` bytes (a single point larger than the byte limit still goes out,
  alone). Memory: about 365 bytes per cached series (bench/otlp_bench.py).

The hot path hand-encodes protobuf: each series' encoded attributes and point prefix are cached
across scrapes, keyed by its ``Labels`` tuple. A new series (the first scrape of a target is
nothing but new series) is built from two smaller per-target caches: its metric name's
``_Family`` (metadata, kind, role, the Metric header and the Metric itself, resolved once per
name) and the encoding of each of its label pairs (``_AttrCache``); both are pruned with the
series, so they follow the live names and pairs under churn.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import logging
import math
import operator
import os
import struct
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent import __version__
from agent.config._types import AgentSection
from agent.model import (
    STALE_NAN,
    EncodedBatch,
    Exemplar,
    Labels,
    MetricMeta,
    ScrapeBatch,
    Series,
    is_stale_nan,
)
from agent.scrape import gcpause
from agent.translate import _pb
from agent.translate.units import unit_word_to_ucum

__all__ = ["DEFAULT_SCOPE_NAME", "STATE_TTL_SCRAPES", "TranslateStats", "Translator"]

log = logging.getLogger("agent.translate")

DEFAULT_SCOPE_NAME = (
    "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver"
)
STATE_TTL_SCRAPES = 10  # series (and their start-time state) unseen this many scrapes are dropped
_SWEEP_EVERY = 5
_KV_CACHE_MAX = 200_000
_GC_PAUSE_SAMPLES = 10_000  # batches this big are translated with the cyclic GC paused

# The receiver's internalMetricMetadata (receiver/prometheusreceiver/internal/metadata.go).
INTERNAL_METADATA: dict[str, MetricMeta] = {
    "up": MetricMeta("gauge", "The scraping was successful"),
    "scrape_duration_seconds": MetricMeta("gauge", "Duration of the scrape", "seconds"),
    "scrape_samples_scraped": MetricMeta("gauge", "The number of samples the target exposed"),
    "scrape_series_added": MetricMeta(
        "gauge", "The approximate number of new series in this scrape"
    ),
    "scrape_samples_post_metric_relabeling": MetricMeta(
        "gauge", "The number of samples remaining after metric relabeling was applied"
    ),
}

_TRIMMABLE = ("_bucket", "_count", "_sum", "_total", "_info", "_created")
_K8S_SD_TO_ATTR = (
    ("__meta_kubernetes_pod_name", "k8s.pod.name"),
    ("__meta_kubernetes_pod_uid", "k8s.pod.uid"),
    ("__meta_kubernetes_pod_container_name", "k8s.container.name"),
    ("__meta_kubernetes_namespace", "k8s.namespace.name"),
    ("__meta_kubernetes_pod_node_name", "k8s.node.name"),
    ("__meta_kubernetes_node_name", "k8s.node.name"),
    ("__meta_kubernetes_endpoint_node_name", "k8s.node.name"),
)
_CONTROLLER_ATTR = {
    "ReplicaSet": "k8s.replicaset.name",
    "DaemonSet": "k8s.daemonset.name",
    "StatefulSet": "k8s.statefulset.name",
    "Job": "k8s.job.name",
    "CronJob": "k8s.cronjob.name",
}
_NOT_POINT_ATTRS = frozenset({"__name__", "job", "instance", "__scheme__", "__metrics_path__"})

# OTLP metric kinds and the Metric field that carries their data.
_GAUGE, _SUM, _HIST, _SUMMARY = 0, 1, 2, 3
_DATA_FIELD = {_GAUGE: 5, _SUM: 7, _HIST: 9, _SUMMARY: 11}
_ATTR_FIELD = {_GAUGE: 7, _SUM: 7, _HIST: 9, _SUMMARY: 7}

# Series roles.
_R_VALUE, _R_CREATED, _R_BUCKET, _R_COUNT, _R_SUM, _R_HCREATED, _R_TARGET_INFO, _R_DROP = range(8)

_EPOCHS = itertools.count(1)  # _TargetState.epoch values: unique per cache generation
_NS_PER_MS = 1_000_000
_F_TS_VAL = struct.Struct("<BQBd")  # time(3) + as_double(4)
_F_TS_STALE = struct.Struct("<BQBB")  # time(3) + flags(8)=1
_F_ST_TS_VAL = struct.Struct("<BQBQBd")  # start(2) + time(3) + as_double(4)
_F_ST_TS_STALE = struct.Struct("<BQBQBB")  # start(2) + time(3) + flags(8)=1
_F_TS = struct.Struct("<BQ")
_F_HIST_HEAD = struct.Struct("<BQBQBQBd")  # start(2) + time(3) + count(4) + sum(5)
_M64 = 0xFFFFFFFFFFFFFFFF
_DBL = struct.Struct("<d")
_TEMPORALITY_CUMULATIVE = b"\x10\x02"
_MONOTONIC = b"\x18\x01"
_U64 = float(1 << 64)
_MAX_MS = ((1 << 64) - 1) // 1_000_000  # timestamps past this don't fit fixed64 nanoseconds
_MAX_CREATED_S = _MAX_MS / 1000.0
_MKey = tuple[str, str, bytes, str]  # (job, instance, encoded scope, metric name)
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(slots=True)
class TranslateStats:
    """Plain counters (monotonic unless noted)."""

    batches: int = 0
    samples_in: int = 0
    points_out: int = 0
    requests_out: int = 0
    bytes_out: int = 0
    dropped_points: int = 0  # malformed groups/series dropped as the receiver does
    stale_points: int = 0
    exemplars_out: int = 0
    resets: int = 0  # counter/histogram/summary resets detected (true_reset_point)
    errors: int = 0  # batches that failed unexpectedly (logged); should stay 0
    series_cached: int = 0  # gauge: series currently cached over all targets


def parse_resource_env(value: str) -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES``: ``k=v,k2=v2`` with percent-encoded keys and values."""
    out: dict[str, str] = {}
    for item in value.split(","):
        k, sep, v = item.partition("=")
        k = urllib.parse.unquote(k.strip())
        if not sep or not k:
            continue
        out[k] = urllib.parse.unquote(v.strip())
    return out


def normalize_metric_name(name: str) -> str:
    for s in _TRIMMABLE:
        if name.endswith(s) and name != s:
            return name[: -len(s)]
    return name


def resolve_metadata(name: str, metadata: Mapping[str, MetricMeta]) -> tuple[MetricMeta, str, str]:
    """(metadata, OTLP metric name, metadata family name) as the receiver's ``metadataForMetric``."""
    m = INTERNAL_METADATA.get(name)
    if m is not None:
        return m, name, name
    m = metadata.get(name)
    if m is not None:
        return m, name, name
    norm = normalize_metric_name(name)
    m = metadata.get(norm)
    if m is not None:
        if m.type == "counter":
            if name.endswith("_created"):
                return m, norm + "_total", norm
            return m, name, norm
        return m, norm, norm
    return MetricMeta("unknown"), name, name


def _otlp_kind(prom_type: str) -> tuple[int, bool]:
    if prom_type == "counter":
        return _SUM, True
    if prom_type in ("info", "stateset"):
        return _SUM, False
    if prom_type == "histogram":
        return _HIST, False
    if prom_type == "summary":
        return _SUMMARY, False
    return _GAUGE, False  # gauge, unknown, gaugehistogram (MetricTypeEmpty -> gauge branch)


def _created_ns(seconds: float) -> int:
    """The receiver's timestampFromFloat64; 0 (= no created time) when not representable."""
    if not 0 < seconds < _MAX_CREATED_S:
        return 0
    secs = int(seconds)
    return secs * 1_000_000_000 + int((seconds - secs) * 1e9)


def _split_host_port(instance: str) -> tuple[str, str]:
    """Go's net.SplitHostPort, returning (instance, "") on error."""
    if instance.startswith("["):
        end = instance.find("]")
        if end < 0 or instance[end + 1 : end + 2] != ":":
            return instance, ""
        return instance[1:end], instance[end + 2 :]
    host, sep, port = instance.rpartition(":")
    if not sep or ":" in host:
        return instance, ""
    return host, port


def _discernible(host: str) -> bool:
    import ipaddress

    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host != "localhost"
    return not (ip.is_loopback or ip.is_unspecified)


def _hex_id(value: str, size: int) -> bytes | None:
    """The receiver's decodeAndCopyToLowerBytes: truncate long ids, left-pad short ones."""
    src = value[: 2 * size] if len(value) // 2 >= size else value
    if len(src) % 2 or not set(src) <= _HEX:
        return None
    raw = bytes.fromhex(src)
    return raw.rjust(size, b"\x00")


class _Start:
    __slots__ = ("start", "prev", "prev_sum", "seen")

    def __init__(self, start: int, prev: float, prev_sum: float, seen: int) -> None:
        self.start = start
        self.prev = prev
        self.prev_sum = prev_sum
        self.seen = seen


class _Resource:
    __slots__ = ("base", "extra", "gen", "encoded", "encoded_key")

    def __init__(self, base: dict[str, str]) -> None:
        self.base = base
        self.extra: dict[str, str] = {}
        self.gen = -1
        self.encoded = b""
        self.encoded_key: tuple[tuple[str, str], ...] | None = None

    def encode(self) -> bytes:
        attrs = dict(self.base)
        attrs.update(self.extra)
        k = tuple(attrs.items())
        if k != self.encoded_key:
            self.encoded_key = k
            self.encoded = _pb.ld(1, _pb.attributes(1, k))  # RM.resource
        return self.encoded


class _Metric:
    """One OTLP Metric of one (resource, scope) of a target; per-scrape buffers reset lazily."""

    __slots__ = (
        "key",
        "res",
        "scope",
        "kind",
        "header",
        "extras",
        "family",
        "gen",
        "buf",
        "ends",
        "pending",
        "created",
        "groups",
    )

    def __init__(
        self,
        key: _MKey,
        res: _Resource,
        scope: bytes,
        kind: int,
        header: bytes,
        extras: bytes,
        family: str,
    ) -> None:
        self.key = key
        self.res = res
        self.scope = scope
        self.kind = kind
        self.header = header
        self.extras = extras
        self.family = family
        self.gen = -1
        # this scrape's encoded points, back to back; ends[k] = end offset of point k
        self.buf = bytearray()
        self.ends: list[int] = []
        self.pending: list[tuple[_Series, float, int, bytes]] = []
        self.created: dict[bytes, float] = {}
        self.groups: list[_Group] = []

    def add(self, point: bytes) -> None:
        self.buf += point
        self.ends.append(len(self.buf))

    def reset(self, gen: int) -> None:
        self.gen = gen
        self.buf = bytearray()
        self.ends = []
        self.pending = []
        self.created = {}
        self.groups = []


class _Group:
    """A histogram/summary point being assembled from its series."""

    __slots__ = (
        "attrs",
        "gen",
        "ts",
        "count",
        "has_count",
        "sum",
        "has_sum",
        "created",
        "values",
        "bad",
        "exemplars",
        "state",
    )

    def __init__(self, attrs: bytes) -> None:
        self.attrs = attrs
        self.gen = -1
        self.ts = 0
        self.count = 0.0
        self.has_count = False
        self.sum = 0.0
        self.has_sum = False
        self.created = 0.0
        self.values: list[tuple[float, float]] = []
        self.bad = False
        self.exemplars: list[bytes] = []
        self.state: _Start | None = None

    def reset(self, gen: int) -> None:
        self.gen = gen
        self.ts = 0
        self.count = 0.0
        self.has_count = False
        self.sum = 0.0
        self.has_sum = False
        self.created = 0.0
        self.values = []
        self.bad = False
        self.exemplars = []


class _Series:
    """The cached translation of one series of a target (built once, on its first sample)."""

    __slots__ = (
        "role",
        "metric",
        "prefix",
        "off",
        "group",
        "bound",
        "seen",
        "info",
        "fast",
        "state",
        "epoch",
    )

    def __init__(
        self, epoch: int, role: int, metric: _Metric | None, prefix: bytes, off: int, fast: bool
    ) -> None:
        self.epoch = epoch  # the _TargetState.epoch it was built for
        self.role = role
        self.metric = metric
        # b"\n" + point length + encoded attributes: the start of every value point of a
        # gauge (time + value follow) or a sum (start + time + value follow). One bytes object
        # per series: memory is what a DaemonSet pays for every cached series.
        self.prefix = prefix
        self.off = off  # prefix[off:] is the encoded point attributes
        self.group: _Group | None = None
        self.bound = 0.0  # le / quantile
        self.seen = 0
        # target_info: the resource it extends and the labels it adds
        self.info: tuple[_Resource, dict[str, str]] | None = None
        self.fast = fast  # a gauge value series: encoded straight away
        self.state: _Start | None = None  # start-time state (cumulative series)

    @property
    def attrs(self) -> bytes:
        return self.prefix[self.off :] if self.off else self.prefix


class _AttrCache(dict[tuple[str, str], bytes]):
    """Encoded point attribute (a tagged ``KeyValue``) per label pair of a target, ``b""`` for a
    pair that is no point attribute (``__name__``, ``job``, ``instance``, ``otel_scope_*``, an
    empty value, ``skip``). A series' attributes are then one C-level map and join over its
    labels, each pair a dict hit once seen (label values repeat a lot across series).

    A pair that moves the series off the target's own resource or the default scope (a
    ``job``/``instance`` other than the target's, any ``otel_scope_*``) is not cached and sets
    ``odd``: after a join, ``odd`` False means the series belongs to the target's resource and
    the default scope, with no need to look for those labels (the reader resets it)."""

    __slots__ = ("field", "skip", "job", "instance", "odd")

    def __init__(self, field: int, skip: str | None, job: str, instance: str) -> None:
        super().__init__()
        self.field = field
        self.skip = skip  # the label carrying a histogram's / summary's bound
        self.job = job
        self.instance = instance
        self.odd = False

    def __missing__(self, kv: tuple[str, str]) -> bytes:
        k, v = kv
        if (
            k.startswith("otel_scope_")
            or (k == "job" and v != self.job)
            or (k == "instance" and v != self.instance)
        ):
            self.odd = True
            return b""
        if not v or k in _NOT_POINT_ATTRS or k == self.skip:
            enc = b""
        else:
            enc = _pb.attribute(self.field, k, v)
        if len(self) >= _KV_CACHE_MAX:
            self.clear()
        self[kv] = enc
        return enc

    def encode(self, labels: Labels) -> bytes:
        """The labels' point attributes (``odd`` reset)."""
        enc = b"".join(map(self.__getitem__, labels))
        self.odd = False
        return enc


def _attr_caches(job: str, instance: str) -> _AttrCaches:
    """A target's attribute caches by OTLP kind (histograms leave out ``le``, summaries
    ``quantile``)."""
    number = _AttrCache(7, None, job, instance)
    return {
        _GAUGE: number,
        _SUM: number,
        _HIST: _AttrCache(9, "le", job, instance),
        _SUMMARY: _AttrCache(7, "quantile", job, instance),
    }


class _Family:
    """What a series' translation takes from its metric name alone (the template of every
    series of that name in a target): metadata, OTLP name and kind, role, the encoded Metric
    header, and the ``_Metric`` of the target's own resource and the default scope."""

    __slots__ = ("otlp_name", "family", "kind", "role", "header", "extras", "attrs", "attr",
                 "head", "heads", "bound", "metric")  # fmt: skip

    def __init__(self, name: str, meta: Mapping[str, MetricMeta], caches: _AttrCaches) -> None:
        m, self.otlp_name, self.family = resolve_metadata(name, meta)
        kind, monotonic = _otlp_kind(m.type)
        self.kind = kind
        header = _pb.string(1, self.otlp_name)
        if m.help:
            header += _pb.string(2, m.help)
        unit = unit_word_to_ucum(m.unit)
        if unit:
            header += _pb.string(3, unit)
        self.header = header + _pb.ld(12, _pb.key_value("prometheus.type", m.type))
        extras = b""
        if kind in (_SUM, _HIST):
            extras = _TEMPORALITY_CUMULATIVE + (_MONOTONIC if monotonic else b"")
        self.extras = extras
        self.head = 0  # bytes after the attributes of a value point (0: not a value series)
        self.heads: list[bytes] = []
        if name == "target_info":
            role = _R_TARGET_INFO
        elif kind in (_HIST, _SUMMARY):
            if name.endswith("_sum"):
                role = _R_SUM
            elif name.endswith("_count"):
                role = _R_COUNT
            elif name == self.family + "_created":
                role = _R_HCREATED
            else:
                role = _R_BUCKET
        elif kind == _SUM and name == self.family + "_created":
            role = _R_CREATED
        else:
            role = _R_VALUE
            self.head = 18 if kind == _GAUGE else 27  # (start +) time + value
            self.heads = _value_heads(self.head)
        self.role = role
        self.bound = "le" if kind == _HIST else "quantile"  # the bucket's label (its bound)
        self.attrs = caches[kind]
        self.attr = self.attrs.__getitem__  # bound once: the encoding of one label pair
        self.metric: _Metric | None = None  # of the target's (job, instance), default scope


_HEADS = 1024  # value point heads precomputed for attributes shorter than this


@functools.cache
def _value_heads(tail: int) -> list[bytes]:
    """The tag and length of a value point by the length of its attributes (< ``_HEADS``)."""
    return [b"\n" + _pb.varint(n + tail) for n in range(_HEADS)]


_AttrCaches = dict[int, _AttrCache]


_first = operator.itemgetter(0)
# (index of __name__, of job, of instance, of otel_scope_* labels, of le, of quantile); -1: absent
_Plan = tuple[int, int, int, tuple[int, ...], int, int]


def _plan(names: tuple[str, ...]) -> _Plan:
    i_name = i_job = i_inst = i_le = i_quantile = -1
    scope: list[int] = []
    for i, k in enumerate(names):
        if k == "__name__":
            i_name = i
        elif k == "job":
            i_job = i
        elif k == "instance":
            i_inst = i
        elif k.startswith("otel_scope_"):
            scope.append(i)
        elif k == "le":
            i_le = i
        elif k == "quantile":
            i_quantile = i
    return i_name, i_job, i_inst, tuple(scope), i_le, i_quantile


class _TargetState:
    __slots__ = (
        "meta",
        "series",
        "metrics",
        "resources",
        "scopes",
        "old",
        "groups",
        "gen",
        "families",
        "epoch",
        "plans",
        "fresh",
        "attrs",
        "gone",
    )

    def __init__(self, job: str, instance: str) -> None:
        self.epoch = next(_EPOCHS)
        self.attrs = _attr_caches(job, instance)
        self.gone = 0  # series swept since the attribute caches were last cleared
        self.plans: dict[tuple[str, ...], _Plan] = {}
        self.meta: Mapping[str, MetricMeta] | None = None
        self.series: dict[Labels, _Series] = {}
        self.metrics: dict[_MKey, _Metric] = {}
        self.resources: dict[tuple[str, str], _Resource] = {}
        self.scopes: dict[tuple[tuple[str, str], ...], bytes] = {}
        # The series cache before a metadata change, to carry start-time state over.
        self.old: dict[Labels, _Series] = {}
        self.groups: dict[tuple[int, bytes], _Group] = {}
        self.gen = 0
        self.families: dict[str, _Family] = {}  # by metric name; pruned with the series
        self.fresh = False  # the series cache was empty when this scrape began


class Translator:
    def __init__(self, agent: AgentSection, env: Mapping[str, str] | None = None):
        self.agent = agent
        env = os.environ if env is None else env
        base: dict[str, str] = parse_resource_env(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
        base.update(agent.resource_attributes)
        if agent.cluster_name:
            base["k8s.cluster.name"] = agent.cluster_name
        self._agent_attrs = base
        self._reset_points = agent.start_time != "none"
        self._max_points = max(1, agent.queue.batch_max_points)
        self._max_bytes = max(1024, agent.queue.batch_max_bytes)
        self._targets: dict[tuple[str, str], _TargetState] = {}
        self._default_scope = _pb.ld(
            1, _pb.string(1, DEFAULT_SCOPE_NAME) + _pb.string(2, __version__)
        )
        self.stats = TranslateStats()
        self._bad_ts = 0  # samples of the batch being translated dropped for their timestamp

    # ------------------------------------------------------------------ public

    def forget(self, job: str, instance: str) -> None:
        st = self._targets.pop((job, instance), None)
        if st is not None:
            self.stats.series_cached -= len(st.series)

    def translate(
        self,
        batch: ScrapeBatch,
        finish: Callable[[EncodedBatch], EncodedBatch] | None = None,
    ) -> list[EncodedBatch]:
        """The batch as OTLP requests. ``finish`` (e.g. ``agent.export.codec.compress_batch``)
        is applied to each request as soon as it is complete, so only finished requests are
        kept until the end (a big scrape's raw payload is never all in memory at once)."""
        try:
            if batch.size > _GC_PAUSE_SAMPLES:
                # no cycles are made here; see agent/scrape/gcpause.py
                with gcpause.paused():
                    return self._translate(batch, finish)
            return self._translate(batch, finish)
        except Exception:  # never let bad data take the scrape loop down
            self.stats.errors += 1
            self.stats.dropped_points += batch.size + len(batch.report)
            log.exception(
                "translating the scrape of job=%r instance=%r failed; its samples were dropped",
                batch.target.job,
                batch.target.instance,
            )
            return []

    # ------------------------------------------------------------------ internals

    def _state(self, batch: ScrapeBatch) -> _TargetState:
        key = (batch.target.job, batch.target.instance)
        st = self._targets.get(key)
        if st is None:
            st = self._targets[key] = _TargetState(*key)
        md = batch.metadata
        if st.meta is not md and st.meta != md:
            # Metadata changed (or first scrape): rebuild the per-series cache; keep start times.
            self.stats.series_cached -= len(st.series)
            st.old = st.series
            st.series = {}
            st.metrics = {}
            st.groups = {}
            st.families = {}
            st.meta = dict(md)
            st.epoch = next(_EPOCHS)  # entries held by scrape stage Series are out of date
        return st

    def _translate(
        self, batch: ScrapeBatch, finish: Callable[[EncodedBatch], EncodedBatch] | None
    ) -> list[EncodedBatch]:
        st = self._state(batch)
        st.gen += 1
        st.fresh = not st.series
        cached = len(st.series)
        try:
            touched = self._samples(st, batch)
        finally:
            # new series are remembered without counting them one by one
            self.stats.series_cached += len(st.series) - cached
        if st.gen % _SWEEP_EVERY == 0:
            self._sweep(st)
        return self._assemble(st, touched, finish)

    def _samples(self, st: _TargetState, batch: ScrapeBatch) -> list[_Metric]:
        """Every sample of the batch into its Metric's buffers; the Metrics touched."""
        gen = st.gen
        stats = self.stats
        stats.batches += 1
        touched: list[_Metric] = []
        touched_res: list[_Resource] = []
        self._bad_ts = 0
        put = self._put
        ts_ms = batch.timestamp_ms
        if batch.series:
            self._columns(st, batch, touched, touched_res)
        if batch.stale:
            if 0 <= ts_ms <= _MAX_MS:
                ref_info = self._ref_info
                for ref in batch.stale:
                    info = ref_info(st, batch, ref)
                    put(st, info, STALE_NAN, ts_ms, None, touched, touched_res)
            else:
                self._bad_ts += len(batch.stale)
        series_get = st.series.get
        for samples in (batch.extra, batch.report):
            for s in samples:
                if not 0 <= s.timestamp_ms <= _MAX_MS:
                    # Not representable in OTLP (fixed64 ns since 1970): drop the sample, not
                    # the scrape. Prometheus' TSDB would refuse it as out of bounds too.
                    self._bad_ts += 1
                    continue
                found = series_get(s.labels)
                if found is None:
                    found = self._build(st, batch, s.labels)
                put(st, found, s.value, s.timestamp_ms, s.exemplar, touched, touched_res)
        for res in st.resources.values():
            if res.gen != gen:
                res.extra = {}
        stats.samples_in += batch.size + len(batch.report)
        bad_ts = self._bad_ts
        if bad_ts:
            stats.dropped_points += bad_ts
            log.debug(
                "job=%r instance=%r: dropped %d samples with a timestamp outside 1970..2554",
                batch.target.job,
                batch.target.instance,
                bad_ts,
            )
        return touched

    def _ref_info(self, st: _TargetState, batch: ScrapeBatch, ref: Series) -> _Series:
        """The cached entry of a scrape stage ``Series``: from its slot when this target
        state put it there, else by label lookup (and remembered in the slot)."""
        info = ref.tr
        if isinstance(info, _Series) and info.epoch == st.epoch:
            return info
        # On a fresh cache (first scrape, new metadata) a lookup would miss: _remember's
        # setdefault is the only hashing of the labels.
        found = None if st.fresh else st.series.get(ref.labels)
        if found is None:
            found = self._build(st, batch, ref.labels)
        ref.tr = found
        return found

    def _columns(
        self,
        st: _TargetState,
        batch: ScrapeBatch,
        touched: list[_Metric],
        touched_res: list[_Resource],
    ) -> None:
        """The scrape's columns (``series``/``values``): the hot loop of the agent."""
        gen = st.gen
        epoch = st.epoch
        put = self._put
        ref_info = self._ref_info
        build = self._build
        fresh = st.fresh
        ts_val = _F_TS_VAL.pack
        r_bucket = _R_BUCKET
        stamps = batch.timestamps
        exemplars = batch.exemplars
        ts_ms = batch.timestamp_ms
        if stamps is None and exemplars is None:
            if not 0 <= ts_ms <= _MAX_MS:
                self._bad_ts += len(batch.series)
                return
            ts_ns = ts_ms * _NS_PER_MS
            for ref, v in zip(batch.series, batch.values, strict=True):
                info: _Series = ref.tr  # type: ignore[assignment]  # checked on the next line
                if info.__class__ is not _Series or info.epoch != epoch:
                    if fresh:  # nothing cached: no lookup
                        info = ref.tr = build(st, batch, ref.labels)
                    else:
                        info = ref_info(st, batch, ref)
                info.seen = gen
                if info.fast and v == v:
                    # the common case: a gauge sample with a value
                    m = info.metric
                    assert m is not None
                    if m.gen != gen:
                        m.reset(gen)
                        touched.append(m)
                    b = m.buf
                    b += info.prefix
                    b += ts_val(0x19, ts_ns, 0x21, v)
                    m.ends.append(len(b))
                    continue
                if info.role == r_bucket:
                    g = info.group
                    if g is not None and g.gen == gen:
                        # a histogram/summary bucket after the first of its point this scrape
                        # (so its group and metric are open): most samples of a histogram page
                        g.values.append((info.bound, v))
                        continue
                put(st, info, v, ts_ms, None, touched, touched_res)
            return
        exs = exemplars or {}
        for i, (ref, v) in enumerate(zip(batch.series, batch.values, strict=True)):
            t = ts_ms if stamps is None else stamps[i]
            if not 0 <= t <= _MAX_MS:
                self._bad_ts += 1
                continue
            put(st, ref_info(st, batch, ref), v, t, exs.get(i), touched, touched_res)

    def _put(
        self,
        st: _TargetState,
        info: _Series,
        v: float,
        ts_ms: int,
        exemplar: Exemplar | None,
        touched: list[_Metric],
        touched_res: list[_Resource],
    ) -> None:
        """One sample of a known series (any kind, stale markers and exemplars included)."""
        gen = st.gen
        info.seen = gen
        m = info.metric
        if m is not None and m.gen != gen:
            m.reset(gen)
            touched.append(m)
        role = info.role
        if role == _R_VALUE:
            assert m is not None
            ts = ts_ms * _NS_PER_MS
            if m.kind == _GAUGE and exemplar is None:
                if v != v and is_stale_nan(v):
                    self.stats.stale_points += 1
                    m.add(self._gauge_stale(info, ts))
                else:
                    m.add(info.prefix + _F_TS_VAL.pack(0x19, ts, 0x21, v))
            else:
                ex = self._exemplar(exemplar, ts_ms) if exemplar is not None else b""
                if m.kind == _GAUGE:
                    stale = v != v and is_stale_nan(v)
                    self.stats.stale_points += stale
                    m.add(self._number_point(info.attrs, 0, ts, v, stale, ex))
                else:
                    m.pending.append((info, v, ts, ex))
        elif role == _R_CREATED:
            assert m is not None
            if not math.isnan(v):
                m.created[info.attrs] = v
        elif role == _R_HCREATED:
            g = _open_group(m, info, gen)
            if not math.isnan(v):
                g.created = v
        elif role in (_R_BUCKET, _R_COUNT, _R_SUM):
            assert m is not None
            g = _open_group(m, info, gen)
            if role == _R_COUNT:
                g.count = v
                g.has_count = True
                g.ts = ts_ms
            elif role == _R_SUM:
                g.sum = v
                g.has_sum = True
            else:
                g.values.append((info.bound, v))
                if exemplar is not None and m.kind == _HIST:
                    g.exemplars.append(self._exemplar(exemplar, ts_ms))
        elif role == _R_TARGET_INFO:
            assert info.info is not None
            res, extra = info.info
            if res.gen != gen:
                res.gen = gen
                res.extra = {}
                touched_res.append(res)
            res.extra.update(extra)
        else:  # _R_DROP
            self.stats.dropped_points += 1

    def _gauge_stale(self, info: _Series, ts: int) -> bytes:
        body = info.attrs + _F_TS_STALE.pack(0x19, ts, 0x40, 1)
        return b"\n" + _pb.varint(len(body)) + body

    @staticmethod
    def _number_point(attrs: bytes, start: int, ts: int, v: float, stale: bool, ex: bytes) -> bytes:
        if start:
            if stale:
                body = attrs + _F_ST_TS_STALE.pack(0x11, start, 0x19, ts, 0x40, 1) + ex
            else:
                body = attrs + _F_ST_TS_VAL.pack(0x11, start, 0x19, ts, 0x21, v) + ex
        elif stale:
            body = attrs + _F_TS_STALE.pack(0x19, ts, 0x40, 1) + ex
        else:
            body = attrs + _F_TS_VAL.pack(0x19, ts, 0x21, v) + ex
        return b"\n" + _pb.varint(len(body)) + body

    def _exemplar(self, e: Exemplar, sample_ts_ms: int) -> bytes:
        ts_ms = e.timestamp_ms if e.timestamp_ms is not None else sample_ts_ms
        if not 0 <= ts_ms <= _MAX_MS:
            ts_ms = sample_ts_ms
        parts = [_F_TS.pack(0x11, ts_ms * _NS_PER_MS), b"\x19", _DBL.pack(e.value)]
        for k, v in e.labels:
            lk = k.lower()
            if lk == "trace_id":
                tid = _hex_id(v, 16)
                if tid is not None:
                    parts.append(_pb.ld(5, tid))
                    continue
            elif lk == "span_id":
                sid = _hex_id(v, 8)
                if sid is not None:
                    parts.append(_pb.ld(4, sid))
                    continue
            parts.append(_pb.ld(7, _pb.key_value(k, v)))
        self.stats.exemplars_out += 1
        return _pb.ld(5, b"".join(parts))

    # -- building the per-series cache entry (once per new series) --

    def _resource(self, st: _TargetState, batch: ScrapeBatch, job: str, instance: str) -> _Resource:
        res = st.resources.get((job, instance))
        if res is None:
            attrs = dict(self._agent_attrs)
            host, port = _split_host_port(instance)
            attrs["service.name"] = job
            if _discernible(host):
                attrs["server.address"] = host
            attrs["service.instance.id"] = instance
            attrs["server.port"] = port
            dl = batch.target.discovered_labels
            attrs["url.scheme"] = dl.get("__scheme__", batch.target.scheme)
            for sd, attr in _K8S_SD_TO_ATTR:
                val = dl.get(sd, "")
                if val:
                    attrs[attr] = val
            kind = dl.get("__meta_kubernetes_pod_controller_kind", "")
            name = dl.get("__meta_kubernetes_pod_controller_name", "")
            if kind and name and kind in _CONTROLLER_ATTR:
                attrs[_CONTROLLER_ATTR[kind]] = name
            res = st.resources[(job, instance)] = _Resource(attrs)
        return res

    def _build(self, st: _TargetState, batch: ScrapeBatch, labels: Labels) -> _Series:
        # The common case: the name first (labels are sorted), the target's own resource and
        # the default scope (the attribute cache tells): the family's Metric.
        first = labels[0] if labels else None
        if first is not None and first[0] == "__name__" and first[1]:
            fam = st.families.get(first[1])
            if fam is None:
                fam = self._family(st, first[1])
            if fam.role != _R_TARGET_INFO:
                enc = b"".join(map(fam.attr, labels))
                cache = fam.attrs
                if not cache.odd:
                    m = fam.metric
                    if m is None:
                        m = fam.metric = self._metric(
                            st, batch, fam, cache.job, cache.instance, self._default_scope
                        )
                    if fam.head:  # a gauge or counter value: most series
                        n = len(enc)
                        head = fam.heads[n] if n < _HEADS else b"\n" + _pb.varint(n + fam.head)
                        info = _Series(
                            st.epoch, fam.role, m, head + enc, len(head), fam.kind == _GAUGE
                        )
                        if st.old and fam.kind == _SUM:
                            prev = st.old.get(labels)
                            if prev is not None:
                                info.state = prev.state
                        return st.series.setdefault(labels, info)
                    bound = dict(labels).get(fam.bound, "") if fam.role == _R_BUCKET else ""
                    return self._series(st, labels, fam, m, enc, bound)
                cache.odd = False
        # Where name, job, instance and scope sit in a label set depends only on its label
        # names: worked out once per distinct name tuple (a page has few).
        names = tuple(map(_first, labels))
        plan = st.plans.get(names)
        if plan is None:
            plan = st.plans[names] = _plan(names)
        i_name, i_job, i_inst, i_scope, i_le, i_quantile = plan
        name = labels[i_name][1] if i_name >= 0 else ""
        if not name:  # no metric name: nothing to call it in OTLP
            return self._remember(st, labels, _Series(st.epoch, _R_DROP, None, b"", 0, False))
        fam = st.families.get(name)
        if fam is None:
            fam = self._family(st, name)
        target = batch.target
        job = labels[i_job][1] if i_job >= 0 else target.job
        instance = labels[i_inst][1] if i_inst >= 0 else target.instance
        if fam.role == _R_TARGET_INFO:
            info = _Series(st.epoch, _R_TARGET_INFO, None, b"", 0, False)
            extra = {k: v for k, v in labels if k not in ("job", "instance", "__name__") and v}
            info.info = (self._resource(st, batch, job, instance), extra)
            return self._remember(st, labels, info)
        if not i_scope and job == target.job and instance == target.instance:
            # the target's own resource and the default scope: the family's Metric
            m = fam.metric
            if m is None:
                m = fam.metric = self._metric(st, batch, fam, job, instance, self._default_scope)
        else:
            scope = self._scope(st, [(labels[i][0][11:], labels[i][1]) for i in i_scope])
            m = self._metric(st, batch, fam, job, instance, scope)
        i_bound = i_le if fam.kind == _HIST else i_quantile
        bound = labels[i_bound][1] if i_bound >= 0 and fam.role == _R_BUCKET else ""
        return self._series(st, labels, fam, m, fam.attrs.encode(labels), bound)

    def _series(
        self, st: _TargetState, labels: Labels, fam: _Family, m: _Metric, enc: bytes, bound: str
    ) -> _Series:
        """A new series of ``m`` with point attributes ``enc`` (``bound``: a histogram's or
        summary's ``le``/``quantile`` value)."""
        role = fam.role
        if fam.head:  # a gauge or counter value: the point's tag and length + ``enc``
            n = len(enc)
            head = fam.heads[n] if n < _HEADS else b"\n" + _pb.varint(n + fam.head)
            info = _Series(st.epoch, role, m, head + enc, len(head), fam.kind == _GAUGE)
            if st.old and fam.kind == _SUM:
                prev = st.old.get(labels)
                if prev is not None:
                    info.state = prev.state
            return self._remember(st, labels, info)
        info = _Series(st.epoch, role, m, enc, 0, False)
        if role == _R_CREATED:
            return self._remember(st, labels, info)
        # a histogram or summary series: feeds the point (group) of its attributes
        gkey = (id(m), enc)
        g = st.groups.get(gkey)
        if g is None:
            g = st.groups[gkey] = _Group(enc)
            prev = st.old.get(labels) if st.old else None
            if prev is not None and prev.group is not None:
                g.state = prev.group.state
        info.group = g
        if role == _R_BUCKET:
            try:
                info.bound = float(bound) if bound else math.nan
            except ValueError:
                info.bound = math.nan
            if math.isnan(info.bound):
                info.role = _R_DROP
                info.metric = None
                info.group = None
                name = dict(labels).get("__name__")
                log.debug("dropping series %s: %r label missing or invalid", name, fam.bound)
        return self._remember(st, labels, info)

    def _family(self, st: _TargetState, name: str) -> _Family:
        fam = st.families[name] = _Family(name, st.meta or {}, st.attrs)
        return fam

    def _metric(
        self,
        st: _TargetState,
        batch: ScrapeBatch,
        fam: _Family,
        job: str,
        instance: str,
        scope: bytes,
    ) -> _Metric:
        mkey = (job, instance, scope, fam.otlp_name)
        m = st.metrics.get(mkey)
        if m is None:
            res = self._resource(st, batch, job, instance)
            m = st.metrics[mkey] = _Metric(
                mkey, res, scope, fam.kind, fam.header, fam.extras, fam.family
            )
        return m

    @staticmethod
    def _remember(st: _TargetState, labels: Labels, info: _Series) -> _Series:
        # (setdefault: one hash of the labels; a label set already there wins)
        return st.series.setdefault(labels, info)

    def _scope(self, st: _TargetState, items: list[tuple[str, str]]) -> bytes:
        if not items:
            return self._default_scope
        key = tuple(items)
        enc = st.scopes.get(key)
        if enc is None:
            d = dict(items)
            name = d.pop("name", "")
            version = d.pop("version", "")
            schema = d.pop("schema_url", "")
            body = b""
            if name:
                body += _pb.string(1, name)
            if version:
                body += _pb.string(2, version)
            body += _pb.attributes(3, sorted(d.items()))
            enc = _pb.ld(1, body)
            if schema:
                enc += _pb.string(3, schema)  # ScopeMetrics.schema_url
            st.scopes[key] = enc
        return enc

    def _sweep(self, st: _TargetState) -> None:
        limit = st.gen - STATE_TTL_SCRAPES
        old = [k for k, v in st.series.items() if v.seen <= limit]
        series = st.series
        for k in old:
            series.pop(k).epoch = -1  # a scrape stage Series may still point at it
        self.stats.series_cached -= len(old)
        st.old = {}
        if len(st.plans) > 4096:  # label name sets churn (rare): start over
            st.plans = {}
        if old:
            live_groups = {id(v.group) for v in st.series.values() if v.group is not None}
            for gk in [k for k, g in st.groups.items() if id(g) not in live_groups]:
                del st.groups[gk]
            live_metrics = {id(v.metric) for v in st.series.values() if v.metric is not None}
            for mk in [k for k, m in st.metrics.items() if id(m) not in live_metrics]:
                del st.metrics[mk]
            # Families are a cache (rebuilt on demand, their Metric found again in st.metrics):
            # keep those whose Metric is still fed, so they follow the live names.
            families = st.families
            for name in [n for n, f in families.items() if id(f.metric) not in live_metrics]:
                del families[name]
            # The pairs of the series gone stay in the attribute caches: start those over once
            # as many series went as are left (a miss only costs a new series an encoding).
            st.gone += len(old)
            if st.gone >= len(series):
                st.gone = 0
                for cache in st.attrs.values():
                    cache.clear()

    # -- start times --

    def _start(
        self,
        st: _TargetState,
        holder: _Series | _Group,
        ts: int,
        v: float,
        vsum: float,
        created: float,
        stale: bool,
    ) -> int:
        start_state = holder.state
        cns = _created_ns(created) if created else 0
        if cns:
            if start_state is None:
                holder.state = _Start(cns, v, vsum, st.gen)
            elif not stale:
                start_state.start, start_state.prev, start_state.prev_sum = cns, v, vsum
                start_state.seen = st.gen
            return cns
        if not self._reset_points:
            return 0
        if start_state is None:
            if stale:
                return ts
            holder.state = _Start(ts, v, vsum, st.gen)
            return ts
        start_state.seen = st.gen
        if stale:
            return start_state.start
        if v < start_state.prev or vsum < start_state.prev_sum:
            start_state.start = max(1, ts - _NS_PER_MS)
            self.stats.resets += 1
        start_state.prev = v
        start_state.prev_sum = vsum
        return start_state.start

    # -- assembling the request(s) --

    def _finish_metric(self, st: _TargetState, m: _Metric) -> _Points:
        kind = m.kind
        if kind == _GAUGE:
            return m.buf, m.ends
        return _joined(self._finish_cumulative(st, m))

    def _finish_cumulative(self, st: _TargetState, m: _Metric) -> list[bytes]:
        kind = m.kind
        if kind == _SUM:
            out = []
            created = m.created
            pack = _F_ST_TS_VAL.pack
            gen = st.gen
            fast = self._reset_points and not created
            for info, v, ts, ex in m.pending:
                state = info.state
                if fast and state is not None and not ex and v == v:
                    # Steady state of a counter: known series, a value, no _created, no exemplar.
                    if v < state.prev:
                        state.start = max(1, ts - _NS_PER_MS)
                        self.stats.resets += 1
                    state.prev = v
                    state.seen = gen
                    out.append(info.prefix + pack(0x11, state.start, 0x19, ts, 0x21, v))
                    continue
                stale = v != v and is_stale_nan(v)
                if stale:
                    self.stats.stale_points += 1
                c = created.get(info.attrs, 0.0) if created else 0.0
                start = self._start(st, info, ts, v, 0.0, c, stale)
                if start and not stale and not ex:
                    out.append(info.prefix + _F_ST_TS_VAL.pack(0x11, start, 0x19, ts, 0x21, v))
                else:
                    out.append(self._number_point(info.attrs, start, ts, v, stale, ex))
            return out
        out = []
        for g in m.groups:
            pt = self._hist_point(st, m, g) if kind == _HIST else self._summary_point(st, m, g)
            if pt is None:
                self.stats.dropped_points += 1
            else:
                out.append(pt)
        return out

    def _hist_point(self, st: _TargetState, m: _Metric, g: _Group) -> bytes | None:
        if not g.has_count:
            log.debug("dropping histogram point of %s: no _count", m.family)
            return None
        vals = sorted(g.values)
        if vals and vals[-1][0] == math.inf:
            vals.pop()
        stale = is_stale_nan(g.sum) or is_stale_nan(g.count)
        bounds = [b for b, _ in vals]
        if stale:
            self.stats.stale_points += 1
            counts = [0] * (len(vals) + 1)
        else:
            counts = []
            prev = 0.0
            for _, c in vals:
                d = c - prev
                if not 0 <= d < _U64:  # decreasing (or NaN/inf) cumulative bucket: malformed
                    return None
                counts.append(int(d))
                prev = c
            last = g.count - prev
            if not 0 <= last < _U64:
                return None
            counts.append(int(last))
        ts = g.ts * _NS_PER_MS
        start = self._start(st, g, ts, g.count, g.sum if g.has_sum else 0.0, g.created, stale)
        if start and not stale and g.has_sum and not g.exemplars:
            # the steady state: start(2) time(3) count(4) sum(5) in one pack
            body = (
                g.attrs
                + _F_HIST_HEAD.pack(0x11, start, 0x19, ts, 0x21, int(g.count) & _M64, 0x29, g.sum)
                + _pb.ld(6, struct.pack(f"<{len(counts)}Q", *counts))
            )
            if bounds:
                body += _pb.ld(7, struct.pack(f"<{len(bounds)}d", *bounds))
            return _pb.ld(1, body)
        parts = [g.attrs]
        if start:
            parts.append(_pb.fixed64(2, start))
        parts.append(_pb.fixed64(3, ts))
        if stale:
            parts.append(b"\x50\x01")
        else:
            parts.append(_pb.fixed64(4, int(g.count)))
            if g.has_sum:
                parts.append(_pb.double(5, g.sum))
        parts.append(_pb.ld(6, struct.pack(f"<{len(counts)}Q", *counts)))
        if bounds:
            parts.append(_pb.ld(7, struct.pack(f"<{len(bounds)}d", *bounds)))
        parts.extend(_pb.ld(8, _strip_tag(e)) for e in g.exemplars)
        body = b"".join(parts)
        return _pb.ld(1, body)

    def _summary_point(self, st: _TargetState, m: _Metric, g: _Group) -> bytes | None:
        if not g.has_count:
            log.debug("dropping summary point of %s: no _count", m.family)
            return None
        stale = is_stale_nan(g.sum) or is_stale_nan(g.count)
        if not stale and not 0 <= g.count < _U64:
            return None
        ts = g.ts * _NS_PER_MS
        start = self._start(st, g, ts, g.count, g.sum if g.has_sum else 0.0, g.created, stale)
        parts = [g.attrs]
        if start:
            parts.append(_pb.fixed64(2, start))
        parts.append(_pb.fixed64(3, ts))
        if stale:
            self.stats.stale_points += 1
            parts.append(b"\x40\x01")
        else:
            parts.append(_pb.fixed64(4, int(g.count)))
            if g.has_sum:
                parts.append(_pb.double(5, g.sum))
        for q, v in sorted(g.values):
            vq = _pb.double(1, q) + (b"" if stale else _pb.double(2, v))
            parts.append(_pb.ld(6, vq))
        return _pb.ld(1, b"".join(parts))

    def _assemble(
        self,
        st: _TargetState,
        touched: list[_Metric],
        finish: Callable[[EncodedBatch], EncodedBatch] | None,
    ) -> list[EncodedBatch]:
        # Group metrics by resource, then scope, keeping first-seen order.
        order: dict[int, dict[bytes, list[tuple[_Metric, _Points]]]] = {}
        resources: dict[int, _Resource] = {}
        for m in touched:
            pts = self._finish_metric(st, m)
            # Release the scrape's buffers now: they would stay alive until the next scrape.
            m.buf, m.ends, m.pending, m.created, m.groups = bytearray(), [], [], {}, []
            if pts[1]:
                resources[id(m.res)] = m.res
                order.setdefault(id(m.res), {}).setdefault(m.scope, []).append((m, pts))
        return _Packer(self._max_points, self._max_bytes, self.stats, finish).pack(
            [(resources[rid].encode(), scopes) for rid, scopes in order.items()]
        )


def _open_group(m: _Metric | None, info: _Series, gen: int) -> _Group:
    """The histogram/summary point a series feeds, reset on its first sample of a scrape."""
    assert m is not None
    g = info.group
    assert g is not None
    if g.gen != gen:
        g.reset(gen)
        m.groups.append(g)
    return g


# A metric's points: their bytes back to back, and the end offset of each.
_Points = tuple[bytes | bytearray, list[int]]


def _joined(points: list[bytes]) -> _Points:
    return b"".join(points), list(itertools.accumulate(map(len, points)))


class _Packer:
    """Packs encoded points into requests within the point and byte limits.

    Nothing is copied until a request is complete: each open message (ResourceMetrics,
    ScopeMetrics, Metric) is a flat list of byte fragments with its length worked out, and
    a request is one ``b"".join`` of its fragments (each point's bytes are copied once)."""

    def __init__(
        self,
        max_points: int,
        max_bytes: int,
        stats: TranslateStats,
        finish: Callable[[EncodedBatch], EncodedBatch] | None = None,
    ) -> None:
        self.finish = finish
        self.max_points = max_points
        self.max_bytes = max_bytes
        self.stats = stats
        self.out: list[EncodedBatch] = []
        self.now = time.time()
        self.req: list[bytes] = []  # fragments of the closed ResourceMetrics (tagged)
        self.req_pts = 0
        self.req_bytes = 0
        self.res_b = b""
        self.rm: list[bytes] = []  # fragments of the closed ScopeMetrics of the open RM
        self.rm_bytes = 0
        self.rm_pts = 0
        self.scope_b = b""
        self.sm: list[bytes] = []  # fragments of the Metrics of the open ScopeMetrics
        self.sm_bytes = 0

    def close_sm(self) -> None:
        if self.sm:
            n = len(self.scope_b) + self.sm_bytes
            head = _pb.varint(n)
            self.rm += (b"\x12", head, self.scope_b)  # ResourceMetrics.scope_metrics (2)
            self.rm += self.sm
            self.rm_bytes += 1 + len(head) + n
        self.sm = []
        self.sm_bytes = 0

    def close_rm(self) -> None:
        self.close_sm()
        if self.rm:
            n = len(self.res_b) + self.rm_bytes
            head = _pb.varint(n)
            self.req += (b"\x0a", head, self.res_b)  # request.resource_metrics (1)
            self.req += self.rm
            self.req_bytes += 1 + len(head) + n
            self.req_pts += self.rm_pts
        self.rm = []
        self.rm_bytes = 0
        self.rm_pts = 0

    def flush(self) -> None:
        self.close_rm()
        if self.req:
            payload = b"".join(self.req)
            self.req = []
            enc = EncodedBatch(payload, self.req_pts, self.now)
            del payload
            self.stats.requests_out += 1
            self.stats.points_out += self.req_pts
            self.stats.bytes_out += len(enc.payload)
            self.out.append(enc if self.finish is None else self.finish(enc))
        self.req = []
        self.req_pts = 0
        self.req_bytes = 0

    def used_bytes(self) -> int:
        # Upper bound of the request size if the open messages were closed now.
        return (
            self.req_bytes
            + self.rm_bytes
            + self.sm_bytes
            + len(self.res_b)
            + len(self.scope_b)
            + 3 * 6  # tags and length varints of the open RM / SM
        )

    def pack(
        self, resources: list[tuple[bytes, dict[bytes, list[tuple[_Metric, _Points]]]]]
    ) -> list[EncodedBatch]:
        for res_b, scopes in resources:
            self.close_rm()
            self.res_b = res_b
            for scope_b, entries in scopes.items():
                self.close_sm()
                self.scope_b = scope_b
                for m, pts in entries:
                    self._metric(m, pts)
        self.flush()
        return self.out

    def _metric(self, m: _Metric, pts: _Points) -> None:
        # cum[k]: end of point k in buf; the points that fit a budget are found by bisection
        buf, cum = pts
        view = memoryview(buf)
        n = len(cum)
        overhead = len(m.header) + len(m.extras) + 12
        tag = _pb.ld_key(_DATA_FIELD[m.kind])
        i = 0
        while i < n:
            open_pts = self.req_pts + self.rm_pts
            budget_pts = self.max_points - open_pts
            budget_bytes = self.max_bytes - self.used_bytes() - overhead
            hi = min(n, i + budget_pts) if budget_pts > 0 else i
            base = cum[i - 1] if i else 0
            j = bisect.bisect_right(cum, base + budget_bytes, i, hi) if hi > i else i
            if j == i and open_pts == 0 and hi > i:
                j = i + 1  # a point bigger than the byte limit goes out alone
            if j == i:
                self.flush()
                continue
            data = cum[j - 1] - base + len(m.extras)
            data_head = _pb.varint(data)
            body = len(m.header) + len(tag) + len(data_head) + data
            head = _pb.varint(body)
            sm = self.sm
            sm += (b"\x12", head, m.header, tag, data_head)  # ScopeMetrics.metrics (2)
            sm.append(view[base : cum[j - 1]])  # type: ignore[arg-type]  # join takes views
            if m.extras:
                sm.append(m.extras)
            self.sm_bytes += 1 + len(head) + body
            self.rm_pts += j - i
            i = j


def _strip_tag(exemplar_field: bytes) -> bytes:
    """Exemplars are encoded as NumberDataPoint field 5; re-tag the body for other fields."""
    i = 1
    while exemplar_field[i] & 0x80:
        i += 1
    return exemplar_field[i + 1 :]
