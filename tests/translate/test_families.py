"""The translator's per-target caches: per-name families (templates), per-pair attribute
encodings, and what the first scrape of a target skips with them. Caching must never change
the output: a series translated among many others (caches warm, names shared, the same pairs
seen before) comes out as it does translated by a fresh translator with only the series it
makes a point with (a histogram's or summary's, a counter's ``_created``)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from agent.config import AgentSection, QueueConfig
from agent.model import (
    EncodedBatch,
    Labels,
    MetricMeta,
    Sample,
    ScrapeBatch,
    Series,
    TargetInfo,
    labels_from_mapping,
)
from agent.translate import DEFAULT_SCOPE_NAME, STATE_TTL_SCRAPES, Translator, _pb

TARGET = TargetInfo("j", "h:1", "http", {"__address__": "h:1"})
META = {
    "g": MetricMeta("gauge", "a gauge", "seconds"),
    "c_total": MetricMeta("counter", "a counter"),
    "h": MetricMeta("histogram"),
    "s": MetricMeta("summary"),
}


def L(name: str, **kw: str) -> Labels:
    return labels_from_mapping({"__name__": name, "job": "j", "instance": "h:1", **kw})


def columns(labels: list[Labels], ts: int, meta: dict[str, MetricMeta]) -> ScrapeBatch:
    return ScrapeBatch(
        TARGET, ts, None, meta, series=[Series(lb) for lb in labels], values=[1.0] * len(labels)
    )


def points(out: list[EncodedBatch]) -> list[tuple[Any, ...]]:
    """Every point as (resource attributes, scope, metric name/help/unit/kind, attributes,
    value, start, time), sorted: the output with the request layout taken out."""
    got = []
    for e in out:
        for rm in ExportMetricsServiceRequest.FromString(e.payload).resource_metrics:
            res = tuple(sorted((kv.key, kv.value.string_value) for kv in rm.resource.attributes))
            for sm in rm.scope_metrics:
                scope = sm.scope.SerializeToString() + sm.schema_url.encode()
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    meta = (m.name, m.description, m.unit, kind, m.metadata[0].value.string_value)
                    for p in getattr(m, kind).data_points:
                        attrs = tuple((kv.key, kv.value.string_value) for kv in p.attributes)
                        val = p.SerializeToString() if kind in ("histogram", "summary") else (
                            p.as_double, p.start_time_unix_nano, p.time_unix_nano, p.flags
                        )  # fmt: skip
                        got.append((res, scope, meta, attrs, repr(val)))
    return sorted(got)


def test_series_of_one_name_share_its_family_and_metric() -> None:
    t = Translator(AgentSection(), env={})
    labels = [L("g", pod=str(k)) for k in range(50)] + [L("c_total", code=str(k)) for k in (1, 2)]
    t.translate(columns(labels, 1_000, META))
    st_ = t._targets[("j", "h:1")]
    assert set(st_.families) == {"g", "c_total"}
    g = st_.families["g"]
    infos = [st_.series[lb] for lb in labels[:50]]
    assert {id(i.metric) for i in infos} == {id(g.metric)}
    assert g.metric is st_.metrics[("j", "h:1", t._default_scope, "g")]
    # each series' attributes came from one encoding per label pair
    assert infos[7].attrs == _pb.attribute(7, "pod", "7")
    assert st_.attrs[0][("pod", "7")] == _pb.attribute(7, "pod", "7")
    assert st_.attrs[0][("job", "j")] == b""  # not a point attribute


def test_series_off_the_default_resource_or_scope_get_their_own_metric() -> None:
    t = Translator(AgentSection(), env={})
    labels = [
        L("g", pod="a"),
        labels_from_mapping({"__name__": "g", "job": "other", "instance": "h:1", "pod": "b"}),
        L("g", pod="c", otel_scope_name="lib"),
        labels_from_mapping({"__name__": "g", "pod": "d"}),  # no job/instance: the target's
        L("g", pod="e", A_UPPER="x"),  # __name__ not first: the general path, same Metric
    ]
    t.translate(columns(labels, 1_000, META))
    st_ = t._targets[("j", "h:1")]
    m = {lb: st_.series[lb].metric for lb in labels}
    default = st_.families["g"].metric
    assert m[labels[0]] is m[labels[3]] is m[labels[4]] is default
    assert m[labels[1]] is not default and m[labels[1]].key[0] == "other"
    assert m[labels[2]] is not default and m[labels[2]].key[2] != t._default_scope
    assert not any(c.odd for c in st_.attrs.values())
    # the odd pairs are not cached: they have to say so every time
    assert ("job", "other") not in st_.attrs[0]
    assert not any(k.startswith("otel_scope_") for k, _ in st_.attrs[0])


def test_families_metrics_and_pairs_are_pruned_with_their_series() -> None:
    t = Translator(AgentSection(), env={})
    ts = 1_000
    t.translate(columns([L("g", pod=str(k)) for k in range(2000)], ts, META))
    st_ = t._targets[("j", "h:1")]
    assert "g" in st_.families and len(st_.attrs[0]) > 2000
    keep = [L("c_total", code="200")]
    for _ in range(STATE_TTL_SCRAPES + 5):
        ts += 15_000
        t.translate(columns(keep, ts, META))
    assert set(st_.families) == {"c_total"}
    assert [k[3] for k in st_.metrics] == ["c_total"]
    assert len(st_.attrs[0]) < 100  # started over: the 2000 pods' pairs are gone
    assert t.stats.series_cached == 1
    # a family pruned is rebuilt on demand, the same as before
    ts += 15_000
    again = points(t.translate(columns([L("g", pod="1")], ts, META)))
    fresh = points(
        Translator(AgentSection(), env={}).translate(columns([L("g", pod="1")], ts, META))
    )
    assert again == fresh


def test_a_metadata_change_between_scrapes_rebuilds_the_families() -> None:
    t = Translator(AgentSection(), env={})
    labels = [L("g", pod="a"), L("g", pod="b")]
    first = points(t.translate(columns(labels, 1_000, META)))
    assert {p[2] for p in first} == {("g", "a gauge", "s", "gauge", "gauge")}
    meta = {**META, "g": MetricMeta("counter", "now a counter")}
    refs = [Series(lb) for lb in labels]
    out = t.translate(ScrapeBatch(TARGET, 2_000, None, meta, series=refs, values=[3.0, 4.0]))
    assert {p[2] for p in points(out)} == {("g", "now a counter", "", "sum", "counter")}
    assert t._targets[("j", "h:1")].families["g"].kind == 1  # _SUM


label_names = st.sampled_from(["pod", "ns", "le", "quantile", "Zone", "a_b", "otel_scope_name",
                               "otel_scope_version", "otel_scope_x"])  # fmt: skip
label_values = st.sampled_from(["", "x", "y", "0.5", "1", "+Inf", "é" * 70, "v" * 130])
metric_names = st.sampled_from(["g", "c_total", "c_created", "h_bucket", "h_count", "h_sum",
                                "s", "s_count", "s_sum", "u", ""])  # fmt: skip
VALUE_NAMES = ("g", "c_total", "u")  # gauge, counter, untyped (a gauge)
jobs = st.sampled_from([None, "j", "other"])
instances = st.sampled_from([None, "h:1", "h:2"])


@settings(max_examples=80, deadline=None)
@given(
    series=st.lists(
        st.tuples(metric_names, jobs, instances, st.dictionaries(label_names, label_values)),
        min_size=1,
        max_size=25,
    ),
    max_points=st.integers(min_value=1, max_value=9),
)
def test_each_series_translates_as_it_does_alone(
    series: list[tuple[str, str | None, str | None, dict[str, str]]], max_points: int
) -> None:
    """Output equal to the uncached path: the points of a batch (first scrape, caches filled
    as it goes, then a second scrape through the slots) are those of each set of series that
    can share a point (same labels but name, le and quantile) translated by a translator of
    its own. (``target_info`` joins series across sets: covered in test_translate.)"""
    agent = AgentSection(queue=QueueConfig(batch_max_points=max_points))
    label_sets = []
    for name, job, inst, extra in series:
        d = {**extra, "__name__": name}
        if job is not None:
            d["job"] = job
        if inst is not None:
            d["instance"] = inst
        lb = labels_from_mapping(d)
        if lb not in label_sets:
            label_sets.append(lb)
    parts: dict[Labels, list[Labels]] = {}
    for lb in label_sets:
        # (no job/instance label: the target's)
        rest = {"job": "j", "instance": "h:1", **dict(lb)}
        for k in ("__name__", "le", "quantile"):
            rest.pop(k, None)
        parts.setdefault(labels_from_mapping(rest), []).append(lb)
    alone = []
    for part in parts.values():
        alone += points(Translator(agent, env={}).translate(columns(part, 5_000, META)))
    t = Translator(agent, env={})
    refs = [Series(lb) for lb in label_sets]
    for ts in (5_000, 20_000):
        batch = ScrapeBatch(TARGET, ts, None, META, series=refs, values=[1.0] * len(refs))
        got = points(t.translate(batch))
        if ts == 5_000:
            assert got == sorted(alone)
    # the second scrape differs only by time (and counters' start, kept from the first)
    assert len(got) == len(alone)
    assert not any(c.odd for c in t._targets[("j", "h:1")].attrs.values())
    # and the value series are where their labels say, with the attributes they say
    want = set()
    for lb in label_sets:
        d = dict(lb)
        if d.get("__name__") in VALUE_NAMES:
            scope = [k for k in d if k.startswith("otel_scope_")]
            scope_name = d.get("otel_scope_name", "") if scope else DEFAULT_SCOPE_NAME
            attrs = tuple(
                kv
                for kv in lb
                if kv[0] not in ("__name__", "job", "instance") and kv[0] not in scope
            )
            want.add(
                (d.get("job", "j"), d.get("instance", "h:1"), scope_name, d["__name__"], attrs)
            )
    assert value_points(t.translate(ScrapeBatch(TARGET, 35_000, None, META, series=refs,
                                                values=[1.0] * len(refs)))) == want  # fmt: skip


def value_points(out: list[EncodedBatch]) -> set[tuple[Any, ...]]:
    """(service.name, service.instance.id, scope name, metric, attributes) of gauge/sum points."""
    got = set()
    for e in out:
        for rm in ExportMetricsServiceRequest.FromString(e.payload).resource_metrics:
            res = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    if m.name not in VALUE_NAMES:
                        continue
                    for p in getattr(m, kind).data_points:
                        attrs = tuple((kv.key, kv.value.string_value) for kv in p.attributes)
                        name = m.name
                        got.add((res["service.name"], res["service.instance.id"], sm.scope.name,
                                 name, attrs))  # fmt: skip
    return got


def test_pairs_encode_as_the_generic_encoder() -> None:
    for field in (7, 9, 16):
        for k, v in [("a", ""), ("pod", "x" * 60), ("k" * 61, "v" * 61), ("é", "ü" * 200)]:
            assert _pb.attribute(field, k, v) == _pb.ld(field, _pb.key_value(k, v))


def test_sample_lists_and_nan_bounds_take_the_general_path() -> None:
    t = Translator(AgentSection(), env={})
    bad = L("h_bucket", le="nope")
    samples = [Sample(L("g", pod="a"), 2.0, 1_000), Sample(bad, 1.0, 1_000)]
    out = points(t.translate(ScrapeBatch(TARGET, 1_000, samples, META)))
    assert [p[3] for p in out] == [(("pod", "a"),)]
    assert t.stats.dropped_points == 1
    assert math.isnan(t._targets[("j", "h:1")].series[bad].bound)
