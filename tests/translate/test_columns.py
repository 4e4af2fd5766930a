"""The scrape loop hands translate columns of ``Series`` objects; tests and tools hand it
``Sample`` lists. Both must give the same OTLP, scrape after scrape (the per-series slot on a
``Series`` is only a shortcut), and ``finish`` must see every request."""

from __future__ import annotations

import struct

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from agent.config import AgentSection, QueueConfig
from agent.export.codec import compress_batch, inflate
from agent.model import (
    CODEC_GZIP,
    STALE_NAN,
    EncodedBatch,
    Exemplar,
    MetricMeta,
    Sample,
    ScrapeBatch,
    Series,
    TargetInfo,
    labels_from_mapping,
)
from agent.translate import Translator

TARGET = TargetInfo("j", "h:1", "http", {"__address__": "h:1"})
META = {
    "g": MetricMeta("gauge", "a gauge"),
    "c_total": MetricMeta("counter", "a counter"),
    "h": MetricMeta("histogram"),
    "s": MetricMeta("summary"),
}


def L(name: str, **kw: str) -> tuple[tuple[str, str], ...]:
    return labels_from_mapping({"__name__": name, "job": "j", "instance": "h:1", **kw})


SERIES = [
    L("g", pod="a"),
    L("g", pod="b"),
    L("c_total", code="200"),
    L("c_total", code="500"),
    L("h_bucket", le="1.0"),
    L("h_bucket", le="+Inf"),
    L("h_sum"),
    L("h_count"),
    L("s", quantile="0.5"),
    L("s_sum"),
    L("s_count"),
    L("target_info", env="prod"),
    L("untyped_thing", x="y"),
]


def values(i: int) -> list[float]:
    # counters grow, then reset at scrape 3
    k = float(i if i != 3 else 0)
    return [1.0 + i, 2.0, 10 + k, 5 + k, 1 + k, 2 + k, 3.5 + k, 2 + k, 0.25, 9.0 + k, 4 + k, 1, 7]


def decoded(out: list[EncodedBatch]) -> list[ExportMetricsServiceRequest]:
    reqs = []
    for e in out:
        req = ExportMetricsServiceRequest()
        req.ParseFromString(inflate(e.payload) if e.codec == CODEC_GZIP else e.payload)
        reqs.append(req)
    return reqs


def test_columns_and_sample_lists_translate_alike_over_many_scrapes() -> None:
    agent = AgentSection(queue=QueueConfig(batch_max_points=7))
    by_cols, by_samples = Translator(agent, env={}), Translator(agent, env={})
    refs = [Series(lb) for lb in SERIES]
    meta: dict[str, MetricMeta] = dict(META)
    for i in range(12):
        ts = 1_000_000 + i * 15_000
        if i == 6:  # a metadata change rebuilds translate's cache; the slots must follow
            meta = {**META, "g": MetricMeta("gauge", "new help")}
        vals = values(i)
        keep = [k for k in range(len(refs)) if not (i == 4 and k == 1)]  # "b" missing once
        cols = ScrapeBatch(
            TARGET,
            ts,
            None,
            meta,
            series=[refs[k] for k in keep],
            values=[vals[k] for k in keep],
            stale=[refs[1]] if i == 4 else [],
        )
        plain = ScrapeBatch(TARGET, ts, cols.samples, meta)
        if i == 4:
            assert plain.extra[-1].labels == SERIES[1]  # the stale marker comes last
        a = decoded(by_cols.translate(cols))
        b = decoded(by_samples.translate(plain))
        assert a == b, i
        assert a and sum(len(r.resource_metrics) for r in a) >= 1
    assert by_cols.stats.resets == by_samples.stats.resets >= 1
    assert by_cols.stats.stale_points == by_samples.stats.stale_points == 1


def test_columns_with_timestamps_and_exemplars() -> None:
    agent = AgentSection()
    refs = [Series(L("c_total", code="200")), Series(L("g", pod="a"))]
    ex = Exemplar((("trace_id", "0123456789abcdef0123456789abcdef"),), 1.0, 5)
    cols = ScrapeBatch(
        TARGET,
        2_000,
        None,
        META,
        series=refs,
        values=[3.0, 4.0],
        timestamps=[1_500, 1_700],
        exemplars={0: ex},
    )
    want = [Sample(refs[0].labels, 3.0, 1_500, ex), Sample(refs[1].labels, 4.0, 1_700)]
    assert cols.samples == want
    a = decoded(Translator(agent, env={}).translate(cols))
    b = decoded(Translator(agent, env={}).translate(ScrapeBatch(TARGET, 2_000, want, META)))
    assert a == b
    pts = [
        m.sum.data_points[0] if m.HasField("sum") else m.gauge.data_points[0]
        for m in a[0].resource_metrics[0].scope_metrics[0].metrics
    ]
    assert [p.time_unix_nano for p in pts] == [1_500_000_000, 1_700_000_000]
    assert len(pts[0].exemplars) == 1


def test_a_series_slot_from_another_translator_is_not_trusted() -> None:
    agent = AgentSection()
    ref = Series(L("g", pod="a"))
    t1, t2 = Translator(agent, env={}), Translator(agent, env={})
    t1.translate(ScrapeBatch(TARGET, 1_000, None, META, series=[ref], values=[1.0]))
    assert ref.tr is not None
    meta2 = {**META, "g": MetricMeta("gauge", "other help")}
    out = decoded(t2.translate(ScrapeBatch(TARGET, 1_000, None, meta2, series=[ref], values=[1.0])))
    # t2 built its own entry from its own metadata, not t1's
    assert out[0].resource_metrics[0].scope_metrics[0].metrics[0].description == "other help"
    assert t2.stats.series_cached == 1


def test_finish_sees_every_request_as_it_is_packed() -> None:
    agent = AgentSection(queue=QueueConfig(batch_max_points=3))
    refs = [Series(L("g", pod=str(k))) for k in range(10)]
    b = ScrapeBatch(TARGET, 1_000, None, META, series=refs, values=[1.0] * 10)
    plain = Translator(agent, env={}).translate(b)
    seen: list[int] = []

    def finish(e: EncodedBatch) -> EncodedBatch:
        seen.append(e.points)
        return compress_batch(e)

    done = Translator(agent, env={}).translate(
        ScrapeBatch(
            TARGET, 1_000, None, META, series=[Series(r.labels) for r in refs], values=[1.0] * 10
        ),
        finish,
    )
    assert seen == [e.points for e in plain] == [3, 3, 3, 1]
    assert all(e.codec == CODEC_GZIP for e in done)
    assert decoded(done) == decoded(plain)


def test_stale_columns_are_no_recorded_value_points() -> None:
    ref = Series(L("g", pod="a"))
    tr = Translator(AgentSection(), env={})
    tr.translate(ScrapeBatch(TARGET, 1_000, None, META, series=[ref], values=[1.0]))
    out = decoded(tr.translate(ScrapeBatch(TARGET, 2_000, None, META, stale=[ref])))
    pt = out[0].resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0]
    assert pt.flags == 1 and pt.time_unix_nano == 2_000_000_000
    marker = ScrapeBatch(TARGET, 2_000, None, META, stale=[ref]).samples[0]
    assert marker.labels == ref.labels and marker.value != marker.value  # NaN
    assert struct.pack("<d", marker.value) == struct.pack("<d", STALE_NAN)


def _points(reqs: list[ExportMetricsServiceRequest]) -> list[tuple[str, str, str, float]]:
    out = []
    for req in reqs:
        for rm in req.resource_metrics:
            inst = next(
                a.value.string_value
                for a in rm.resource.attributes
                if a.key == "service.instance.id"
            )
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    data = m.gauge if m.HasField("gauge") else m.sum
                    for p in data.data_points:
                        attrs = ",".join(f"{a.key}={a.value.string_value}" for a in p.attributes)
                        out.append((inst, m.name, attrs, p.as_double))
    return out


def test_requests_respect_the_byte_and_point_limits_and_lose_nothing() -> None:
    series = []
    values = []
    for inst in ("h:1", "h:2"):  # two resources
        for k in range(300):
            name = "g" if k % 3 else "c_total"
            series.append(Series(L(name, pod=f"p{k}", instance=inst, pad="x" * (k % 50))))
            values.append(float(k))
    want = None
    for max_bytes in (1024, 1500, 4096, 20_000, 1 << 20):
        for max_points in (1, 7, 100, 10_000):
            agent = AgentSection(
                queue=QueueConfig(batch_max_points=max_points, batch_max_bytes=max_bytes)
            )
            refs = [Series(s.labels) for s in series]
            out = Translator(agent, env={}).translate(
                ScrapeBatch(TARGET, 1_000, None, META, series=refs, values=list(values))
            )
            for e in out:
                assert e.points <= max_points
                assert len(e.payload) <= max_bytes or e.points == 1, (max_bytes, max_points)
            got = sorted(_points(decoded(out)))
            assert sum(e.points for e in out) == len(got) == 600
            if want is None:
                want = got
            assert got == want


def test_buckets_and_quantiles_after_the_first_of_their_point_take_the_fast_path_alike() -> None:
    """From the second scrape on, every bucket/quantile after the first of its point is
    appended to its open group in the hot loop (not through the general sample path): the
    points must be what the general path gives, and hold the scraped counts."""
    les = ["0.1", "0.5", "1.0", "2.5", "+Inf"]
    series = [L("h_bucket", code=c, le=le) for c in ("200", "500") for le in les]
    series += [L("h_sum", code=c) for c in ("200", "500")]
    series += [L("h_count", code=c) for c in ("200", "500")]
    series += [L("s", quantile=q) for q in ("0.5", "0.9", "0.99")] + [L("s_sum"), L("s_count")]
    refs = [Series(lb) for lb in series]
    by_cols, by_samples = Translator(AgentSection(), env={}), Translator(AgentSection(), env={})
    for i in range(1, 4):
        cum = [float(i * k) for k in (1, 3, 4, 6, 7)]  # cumulative per le, +Inf = count
        vals = cum + [2 * x for x in cum] + [1.5 * i, 3.0 * i] + [cum[-1], 2 * cum[-1]]
        vals += [0.1 * i, 0.2 * i, 0.3 * i, 9.0 * i, 5.0 * i]
        cols = ScrapeBatch(TARGET, 1_000 + i * 15_000, None, META, series=refs, values=vals)
        plain = ScrapeBatch(TARGET, cols.timestamp_ms, cols.samples, META)
        a = decoded(by_cols.translate(cols))
        assert a == decoded(by_samples.translate(plain)), i
        metrics = {m.name: m for m in a[0].resource_metrics[0].scope_metrics[0].metrics}
        hist = sorted(
            metrics["h"].histogram.data_points, key=lambda p: p.attributes[0].value.string_value
        )
        assert [list(p.bucket_counts) for p in hist] == [
            [i, 2 * i, i, 2 * i, i],
            [2 * i, 4 * i, 2 * i, 4 * i, 2 * i],
        ]
        assert list(hist[0].explicit_bounds) == [0.1, 0.5, 1.0, 2.5]
        assert [(p.count, p.sum) for p in hist] == [(7 * i, 1.5 * i), (14 * i, 3.0 * i)]
        # counts grow: the start time is the first scrape's, as the receiver's
        assert {p.start_time_unix_nano for p in hist} == {16_000 * 1_000_000}
        assert hist[0].time_unix_nano == cols.timestamp_ms * 1_000_000
        (sp,) = metrics["s"].summary.data_points
        assert [(q.quantile, q.value) for q in sp.quantile_values] == [
            (0.5, 0.1 * i),
            (0.9, 0.2 * i),
            (0.99, 0.3 * i),
        ]
