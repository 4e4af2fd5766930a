"""Translator: every Prometheus type -> OTLP, checked by decoding with opentelemetry-proto."""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.metrics.v1 import metrics_pb2

from agent import __version__
from agent.config import AgentSection, QueueConfig
from agent.model import (
    STALE_NAN,
    Exemplar,
    MetricMeta,
    Sample,
    ScrapeBatch,
    TargetInfo,
    labels_from_mapping,
)
from agent.translate import DEFAULT_SCOPE_NAME, Translator, parse_resource_env, resolve_metadata
from agent.translate.units import unit_word_to_ucum

NO_RECORDED = metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
JOB, INST = "node", "10.1.2.3:9100"
TARGET = TargetInfo(
    JOB,
    INST,
    "https",
    {
        "__scheme__": "https",
        "__address__": INST,
        "__meta_kubernetes_namespace": "monitoring",
        "__meta_kubernetes_pod_name": "node-exporter-abc",
        "__meta_kubernetes_pod_uid": "uid-1",
        "__meta_kubernetes_pod_container_name": "exporter",
        "__meta_kubernetes_pod_node_name": "worker-1",
        "__meta_kubernetes_pod_controller_kind": "DaemonSet",
        "__meta_kubernetes_pod_controller_name": "node-exporter",
    },
)


def S(name: str, value: float, ts: int = 1000, ex: Exemplar | None = None, **labels: str) -> Sample:
    lab = {"__name__": name, "job": JOB, "instance": INST, **labels}
    return Sample(labels_from_mapping(lab), value, ts, ex)


def batch(
    samples: list[Sample], meta: dict[str, MetricMeta], ts: int = 1000, **kw: Any
) -> ScrapeBatch:
    return ScrapeBatch(kw.get("target", TARGET), ts, samples, meta, kw.get("report", []))


def decode(out: list[Any]) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    for enc in out:
        req.MergeFromString(enc.payload)
    return req


def attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in kvs}


def metrics(req: ExportMetricsServiceRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                assert m.name not in out, f"metric {m.name} emitted twice"
                out[m.name] = m
    return out


def tr(**kw: Any) -> Translator:
    return Translator(AgentSection(**kw), env={})


# ---------------------------------------------------------------- resource and scope


def test_resource_attributes_as_the_receiver() -> None:
    t = Translator(
        AgentSection(
            cluster_name="prod-eu", resource_attributes={"deployment.environment": "prod"}
        ),
        env={"OTEL_RESOURCE_ATTRIBUTES": "team=infra%20ops,deployment.environment=dev"},
    )
    req = decode(t.translate(batch([S("g", 1)], {"g": MetricMeta("gauge")})))
    assert len(req.resource_metrics) == 1
    res = attrs(req.resource_metrics[0].resource.attributes)
    assert res == {
        "team": "infra ops",
        "deployment.environment": "prod",  # agent.resource_attributes beats the env variable
        "k8s.cluster.name": "prod-eu",
        "service.name": JOB,
        "service.instance.id": INST,
        "server.address": "10.1.2.3",
        "server.port": "9100",
        "url.scheme": "https",
        "k8s.namespace.name": "monitoring",
        "k8s.pod.name": "node-exporter-abc",
        "k8s.pod.uid": "uid-1",
        "k8s.container.name": "exporter",
        "k8s.node.name": "worker-1",
        "k8s.daemonset.name": "node-exporter",
    }
    sm = req.resource_metrics[0].scope_metrics[0]
    assert sm.scope.name == DEFAULT_SCOPE_NAME
    assert sm.scope.version == __version__


@pytest.mark.parametrize(
    "instance,address,port",
    [
        ("localhost:9090", None, "9090"),
        ("127.0.0.1:9090", None, "9090"),
        ("0.0.0.0:80", None, "80"),
        ("[::1]:9090", None, "9090"),
        ("[2001:db8::1]:443", "2001:db8::1", "443"),
        ("db.example.com", "db.example.com", ""),
    ],
)
def test_server_address_only_for_discernible_hosts(
    instance: str, address: str | None, port: str
) -> None:
    t = tr()
    target = TargetInfo("j", instance, "http", {"__scheme__": "http"})
    s = Sample(labels_from_mapping({"__name__": "g", "job": "j", "instance": instance}), 1.0, 1000)
    req = decode(t.translate(ScrapeBatch(target, 1000, [s], {})))
    res = attrs(req.resource_metrics[0].resource.attributes)
    assert res.get("server.address") == address
    assert res["server.port"] == port
    assert res["service.instance.id"] == instance


def test_resource_per_sample_job_instance_and_fallback_to_target() -> None:
    t = tr()
    federated = Sample(
        labels_from_mapping({"__name__": "g", "job": "other", "instance": "h:1"}), 2.0, 1000
    )
    no_labels = Sample(labels_from_mapping({"__name__": "g2"}), 3.0, 1000)
    req = decode(t.translate(batch([S("g", 1), federated, no_labels], {})))
    by_service = {
        (a["service.name"], a["service.instance.id"]): rm
        for rm in req.resource_metrics
        for a in [attrs(rm.resource.attributes)]
    }
    assert set(by_service) == {(JOB, INST), ("other", "h:1")}
    own = metrics(ExportMetricsServiceRequest(resource_metrics=[by_service[(JOB, INST)]]))
    assert set(own) == {"g", "g2"}


def test_target_info_merged_into_resource_and_not_emitted() -> None:
    t = tr()
    samples = [S("target_info", 1, env="prod", region="eu"), S("g", 1)]
    req = decode(t.translate(batch(samples, {"target_info": MetricMeta("gauge")})))
    res = attrs(req.resource_metrics[0].resource.attributes)
    assert res["env"] == "prod" and res["region"] == "eu"
    assert "target_info" not in metrics(req)
    # Next scrape without target_info: the attributes go away again.
    req2 = decode(t.translate(batch([S("g", 1, ts=2000)], {}, ts=2000)))
    assert "env" not in attrs(req2.resource_metrics[0].resource.attributes)


def test_scope_from_otel_scope_labels() -> None:
    t = tr()
    s = S(
        "g",
        1,
        otel_scope_name="my.lib",
        otel_scope_version="1.2",
        otel_scope_schema_url="https://opentelemetry.io/schemas/1.21.0",
        otel_scope_team="x",
        other="y",
    )
    req = decode(t.translate(batch([s, S("plain", 2)], {})))
    scopes = {sm.scope.name: sm for sm in req.resource_metrics[0].scope_metrics}
    assert set(scopes) == {"my.lib", DEFAULT_SCOPE_NAME}
    sm = scopes["my.lib"]
    assert sm.scope.version == "1.2"
    assert sm.schema_url == "https://opentelemetry.io/schemas/1.21.0"
    assert attrs(sm.scope.attributes) == {"team": "x"}
    assert attrs(sm.metrics[0].gauge.data_points[0].attributes) == {"other": "y"}


# ---------------------------------------------------------------- types


def test_gauge_counter_unknown_info_stateset_and_metadata() -> None:
    meta = {
        "temp_celsius": MetricMeta("gauge", "Temperature.", "celsius"),
        "http_requests_total": MetricMeta("counter", "Requests.", ""),  # text 0.0.4 style
        "om_requests": MetricMeta("counter", "OM requests.", ""),  # OpenMetrics style
        "build": MetricMeta("info", "Build info."),
        "feature": MetricMeta("stateset", "Features."),
        "io": MetricMeta("counter", "", "bytes_per_second"),
    }
    samples = [
        S("temp_celsius", 21.5, sensor="a", empty=""),
        S("http_requests_total", 7, code="200"),
        S("om_requests_total", 3),
        S("build_info", 1, version="1.0"),
        S("feature", 1, feature="a"),
        S("feature", 0, feature="b"),
        S("untyped_thing", 42),
        S("io_total", 5),
    ]
    m = metrics(decode(tr().translate(batch(samples, meta))))
    g = m["temp_celsius"]
    assert g.WhichOneof("data") == "gauge"
    assert g.description == "Temperature." and g.unit == "Cel"
    assert attrs(g.metadata) == {"prometheus.type": "gauge"}
    p = g.gauge.data_points[0]
    assert p.as_double == 21.5 and p.time_unix_nano == 1000 * 1_000_000
    assert p.start_time_unix_nano == 0  # gauges never get a start time
    assert attrs(p.attributes) == {"sensor": "a"}  # empty values omitted, job/instance gone

    c = m["http_requests_total"]
    assert c.WhichOneof("data") == "sum"
    assert c.sum.is_monotonic and c.sum.aggregation_temporality == 2
    assert attrs(c.metadata) == {"prometheus.type": "counter"}
    assert c.sum.data_points[0].as_double == 7
    assert m["om_requests_total"].sum.data_points[0].as_double == 3
    assert m["io_total"].unit == "By/s"

    info = m["build"]  # the receiver names it after the metadata family
    assert info.WhichOneof("data") == "sum" and not info.sum.is_monotonic
    assert attrs(info.metadata) == {"prometheus.type": "info"}
    ss = m["feature"]
    assert ss.WhichOneof("data") == "sum" and not ss.sum.is_monotonic
    assert len(ss.sum.data_points) == 2

    u = m["untyped_thing"]
    assert u.WhichOneof("data") == "gauge"
    assert attrs(u.metadata) == {"prometheus.type": "unknown"}


def test_histogram_buckets_count_sum_created_and_exemplar() -> None:
    meta = {"req_seconds": MetricMeta("histogram", "Latency.", "seconds")}
    ex = Exemplar(labels_from_mapping({"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}), 0.07, 900)
    samples = [
        S("req_seconds_bucket", 2, le="0.1", path="/a", ex=ex),
        S("req_seconds_bucket", 5, le="0.5", path="/a"),
        S("req_seconds_bucket", 9, le="+Inf", path="/a"),
        S("req_seconds_count", 9, path="/a"),
        S("req_seconds_sum", 3.25, path="/a"),
        S("req_seconds_created", 500.25, path="/a"),
    ]
    m = metrics(decode(tr().translate(batch(samples, meta))))
    h = m["req_seconds"]
    assert h.WhichOneof("data") == "histogram"
    assert h.unit == "s" and h.histogram.aggregation_temporality == 2
    (p,) = h.histogram.data_points
    assert list(p.explicit_bounds) == [0.1, 0.5]
    assert list(p.bucket_counts) == [2, 3, 4]
    assert p.count == 9 and p.sum == 3.25 and p.HasField("sum")
    assert p.start_time_unix_nano == 500_250_000_000
    assert attrs(p.attributes) == {"path": "/a"}
    (e,) = p.exemplars
    assert e.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert e.as_double == 0.07 and e.time_unix_nano == 900 * 1_000_000


def test_histogram_without_count_or_with_decreasing_buckets_is_dropped() -> None:
    meta = {
        "a": MetricMeta("histogram"),
        "b": MetricMeta("histogram"),
        "c": MetricMeta("histogram"),
    }
    samples = [
        S("a_bucket", 1, le="1"),
        S("a_sum", 1),  # no a_count
        S("b_bucket", 5, le="1"),
        S("b_bucket", 3, le="2"),  # decreasing
        S("b_count", 5),
        S("c_bucket", 1, le="1"),
        S("c_count", 1),
        S("c_bucket", 1, le="oops"),  # bad le: that series dropped, the point survives
    ]
    t = tr()
    m = metrics(decode(t.translate(batch(samples, meta))))
    assert set(m) == {"c"}
    assert list(m["c"].histogram.data_points[0].bucket_counts) == [1, 0]
    assert t.stats.dropped_points == 3


def test_summary_quantiles_and_stale() -> None:
    meta = {"rpc": MetricMeta("summary", "RPC.")}
    samples = [
        S("rpc", 0.1, quantile="0.5"),
        S("rpc", 0.9, quantile="0.99"),
        S("rpc_sum", 12.5),
        S("rpc_count", 40),
        S("go_gc", math.nan, quantile="0.5"),
        S("go_gc_count", 0),
    ]
    meta["go_gc"] = MetricMeta("summary")
    t = tr()
    m = metrics(decode(t.translate(batch(samples, meta))))
    (p,) = m["rpc"].summary.data_points
    assert p.count == 40 and p.sum == 12.5
    assert [(q.quantile, q.value) for q in p.quantile_values] == [(0.5, 0.1), (0.99, 0.9)]
    assert p.start_time_unix_nano == 1_000_000_000  # first sighting (true_reset_point)
    assert math.isnan(m["go_gc"].summary.data_points[0].quantile_values[0].value)

    stale = [S("rpc", STALE_NAN, 2000, quantile="0.5"), S("rpc_sum", STALE_NAN, 2000)]
    stale += [S("rpc_count", STALE_NAN, 2000)]
    m2 = metrics(decode(t.translate(batch(stale, meta, ts=2000))))
    (p2,) = m2["rpc"].summary.data_points
    assert p2.flags & NO_RECORDED
    assert p2.count == 0 and p2.sum == 0
    assert [(q.quantile, q.value) for q in p2.quantile_values] == [(0.5, 0.0)]
    assert p2.start_time_unix_nano == 1_000_000_000


def test_gaugehistogram_as_the_receiver() -> None:
    meta = {"queue": MetricMeta("gaugehistogram", "Queue.")}
    samples = [
        S("queue_bucket", 1, le="1"),
        S("queue_bucket", 3, le="+Inf"),
        S("queue_gcount", 3),
        S("queue_gsum", 4),
    ]
    m = metrics(decode(tr().translate(batch(samples, meta))))
    q = m["queue"]
    assert q.WhichOneof("data") == "gauge"
    assert attrs(q.metadata) == {"prometheus.type": "gaugehistogram"}
    assert sorted(attrs(p.attributes)["le"] for p in q.gauge.data_points) == ["+Inf", "1"]
    assert m["queue_gcount"].WhichOneof("data") == "gauge"


def test_stale_markers_become_no_recorded_value() -> None:
    meta = {"c_total": MetricMeta("counter"), "h": MetricMeta("histogram")}
    first = [
        S("g", 1),
        S("c_total", 5),
        S("h_bucket", 1, le="1"),
        S("h_count", 2),
        S("h_sum", 3),
    ]
    t = tr()
    t.translate(batch(first, meta))
    stale = [
        S("g", STALE_NAN, 2000),
        S("c_total", STALE_NAN, 2000),
        S("h_bucket", STALE_NAN, 2000, le="1"),
        S("h_bucket", STALE_NAN, 2000, le="+Inf"),
        S("h_count", STALE_NAN, 2000),
        S("h_sum", STALE_NAN, 2000),
    ]
    m = metrics(decode(t.translate(batch(stale, meta, ts=2000))))
    g = m["g"].gauge.data_points[0]
    assert g.flags & NO_RECORDED and g.WhichOneof("value") is None
    c = m["c_total"].sum.data_points[0]
    assert c.flags & NO_RECORDED and c.WhichOneof("value") is None
    assert c.start_time_unix_nano == 1_000_000_000  # keeps the series' start
    h = m["h"].histogram.data_points[0]
    assert h.flags & NO_RECORDED and h.count == 0 and not h.HasField("sum")
    assert list(h.bucket_counts) == [0, 0] and list(h.explicit_bounds) == [1.0]
    assert t.stats.stale_points == 3
    # A plain NaN is a value, not a stale marker.
    m2 = metrics(decode(t.translate(batch([S("g", math.nan, 3000)], meta, ts=3000))))
    p = m2["g"].gauge.data_points[0]
    assert math.isnan(p.as_double) and not p.flags


def test_exemplar_ids_and_filtered_attributes() -> None:
    ex = Exemplar(
        labels_from_mapping({"Trace_ID": "abcd", "span_id": "00f067aa0ba902b7ff", "user": "u1"}),
        1.5,
        None,
    )
    bad = Exemplar(labels_from_mapping({"trace_id": "xyz"}), 2.0, 1234)
    meta = {"c": MetricMeta("counter")}
    samples = [S("c_total", 5, 1000, ex=ex, a="1"), S("c_total", 6, 1000, ex=bad, a="2")]
    m = metrics(decode(tr().translate(batch(samples, meta))))
    p1, p2 = m["c_total"].sum.data_points
    (e1,) = p1.exemplars
    assert e1.trace_id == bytes(14) + bytes.fromhex("abcd")  # short: left-padded
    assert e1.span_id == bytes.fromhex("00f067aa0ba902b7")  # long: truncated
    assert attrs(e1.filtered_attributes) == {"user": "u1"}
    assert e1.time_unix_nano == 1000 * 1_000_000  # no exemplar timestamp: the sample's
    (e2,) = p2.exemplars
    assert e2.trace_id == b"" and attrs(e2.filtered_attributes) == {"trace_id": "xyz"}
    assert e2.time_unix_nano == 1234 * 1_000_000


def test_report_series_are_gauges_with_receiver_help() -> None:
    report = [
        S("up", 1),
        S("scrape_duration_seconds", 0.12),
        S("scrape_samples_scraped", 10),
        S("scrape_series_added", 0),
        S("scrape_samples_post_metric_relabeling", 9),
    ]
    m = metrics(decode(tr().translate(batch([], {}, report=report))))
    assert m["up"].description == "The scraping was successful"
    assert m["scrape_duration_seconds"].unit == "s"
    for name in ("up", "scrape_duration_seconds", "scrape_samples_scraped"):
        assert m[name].WhichOneof("data") == "gauge"
        assert attrs(m[name].metadata) == {"prometheus.type": "gauge"}
    assert m["up"].gauge.data_points[0].as_double == 1


# ---------------------------------------------------------------- start times


def counter_points(t: Translator, values: list[tuple[int, float]], **kw: Any) -> list[Any]:
    out = []
    for ts, v in values:
        samples = [S("c_total", v, ts)] + kw.get("extra", [])
        req = decode(t.translate(batch(samples, {"c": MetricMeta("counter")}, ts=ts)))
        out.append(metrics(req)["c_total"].sum.data_points[0])
    return out


def test_true_reset_point_start_times() -> None:
    t = tr()
    p = counter_points(t, [(1000, 5), (2000, 8), (3000, 2), (4000, 4)])
    assert p[0].start_time_unix_nano == p[0].time_unix_nano == 1_000_000_000
    assert p[1].start_time_unix_nano == 1_000_000_000
    # reset: start = reset point - 1 ms (the metricstarttime processor's true_reset_point)
    assert p[2].start_time_unix_nano == 3_000_000_000 - 1_000_000
    assert p[3].start_time_unix_nano == 3_000_000_000 - 1_000_000
    assert t.stats.resets == 1


def test_created_wins_and_none_mode() -> None:
    t = tr()
    created = S("c_created", 100.5, 1000)
    p = counter_points(t, [(1000, 5)], extra=[created])
    assert p[0].start_time_unix_nano == 100_500_000_000
    none = tr(start_time="none")
    p = counter_points(none, [(1000, 5), (2000, 1)])
    assert [x.start_time_unix_nano for x in p] == [0, 0]
    p = counter_points(none, [(3000, 5)], extra=[S("c_created", 7, 3000)])
    assert p[0].start_time_unix_nano == 7_000_000_000


def test_histogram_reset_detected_from_count_or_sum() -> None:
    t = tr()
    meta = {"h": MetricMeta("histogram")}

    def point(ts: int, count: float, total: float) -> Any:
        samples = [
            S("h_bucket", count, ts, le="+Inf"),
            S("h_count", count, ts),
            S("h_sum", total, ts),
        ]
        return metrics(decode(t.translate(batch(samples, meta, ts=ts))))["h"].histogram.data_points[
            0
        ]

    assert point(1000, 10, 5).start_time_unix_nano == 1_000_000_000
    assert point(2000, 12, 6).start_time_unix_nano == 1_000_000_000
    assert point(3000, 12, 4).start_time_unix_nano == 2_999_000_000  # sum decreased
    assert point(4000, 1, 9).start_time_unix_nano == 3_999_000_000  # count decreased


def test_state_is_bounded_and_forget_releases_it() -> None:
    t = tr()
    for i in range(30):
        ts = 1000 * (i + 1)
        t.translate(batch([S("c_total", float(i), ts, series=str(i))], {}, ts=ts))
    # Series unseen for STATE_TTL_SCRAPES scrapes are swept.
    assert t.stats.series_cached <= 16
    t.forget(JOB, INST)
    assert t.stats.series_cached == 0
    assert not t._targets


# ---------------------------------------------------------------- batching and robustness


def test_split_by_points_and_bytes() -> None:
    t = Translator(
        AgentSection(queue=QueueConfig(batch_max_points=100, batch_max_bytes=6000)), env={}
    )
    samples = [S("g", float(i), i=str(i), pad="x" * 20) for i in range(1000)]
    samples += [S("h_bucket", 1, le="1"), S("h_count", 1)]
    out = t.translate(batch(samples, {"h": MetricMeta("histogram")}))
    assert len(out) >= 10
    assert all(e.points <= 100 and len(e.payload) <= 6000 for e in out)
    assert sum(e.points for e in out) == 1001
    req = decode(out)
    values = sorted(
        p.as_double
        for rm in req.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "g"
        for p in m.gauge.data_points
    )
    assert values == [float(i) for i in range(1000)]
    assert t.stats.points_out == 1001


def test_metadata_change_rebuilds_cache() -> None:
    t = tr()
    m1 = metrics(decode(t.translate(batch([S("x", 1)], {"x": MetricMeta("gauge")}))))
    assert m1["x"].WhichOneof("data") == "gauge"
    m2 = metrics(
        decode(t.translate(batch([S("x", 2, 2000)], {"x": MetricMeta("counter")}, ts=2000)))
    )
    assert m2["x"].WhichOneof("data") == "sum"


def test_resolve_metadata_and_units() -> None:
    md = {
        "foo": MetricMeta("counter"),
        "bar": MetricMeta("histogram"),
        "baz_total": MetricMeta("counter"),
    }
    assert resolve_metadata("foo_total", md)[1] == "foo_total"
    assert resolve_metadata("foo_created", md)[1] == "foo_total"
    assert resolve_metadata("bar_bucket", md)[1] == "bar"
    assert resolve_metadata("baz_total", md)[1] == "baz_total"
    assert resolve_metadata("nothing", md)[0].type == "unknown"
    assert resolve_metadata("up", {})[0].help == "The scraping was successful"
    assert unit_word_to_ucum("milliseconds") == "ms"
    assert unit_word_to_ucum("bytes_per_second") == "By/s"
    assert unit_word_to_ucum("widgets_per_fortnight") == "widgets/fortnight"
    assert unit_word_to_ucum("") == ""
    assert parse_resource_env("a=1, b = x%2Cy ,bad,=v") == {"a": "1", "b": "x,y"}


def test_never_raises_on_bad_input() -> None:
    t = tr()
    weird = [
        Sample(labels_from_mapping({"__name__": "h_bucket", "le": "1"}), 1.0, 1000),
        Sample((), 1.0, 1000),  # no labels at all
        S("h_count", math.inf),
        S("s", 1, quantile="x"),
    ]
    out = t.translate(batch(weird, {"h": MetricMeta("histogram"), "s": MetricMeta("summary")}))
    assert metrics(decode(out)) == {}  # valid protobuf whatever came in; nothing usable
    # the two h_ series form one (bad) group; the nameless sample; the bad quantile series
    assert t.stats.errors == 0 and t.stats.dropped_points == 3


def test_unrepresentable_timestamps_drop_the_sample_not_the_scrape() -> None:
    t = tr()
    meta = {"c": MetricMeta("counter"), "h": MetricMeta("histogram")}
    bad_ex = Exemplar(labels_from_mapping({"trace_id": "ab"}), 1.0, -5)
    samples = [
        S("g", 1, -1),  # negative
        S("g2", 1, 12345678901234567890),  # past fixed64 nanoseconds
        S("ok", 2, 1000, ex=bad_ex),
        S("c_total", 3, 1000),
        S("c_created", math.inf, 1000),  # not a usable created time: ignored
        S("h_count", 1, 1000),
        S("h_created", -7, 1000),
    ]
    m = metrics(decode(t.translate(batch(samples, meta, report=[S("up", 1)]))))
    assert set(m) == {"ok", "c_total", "h", "up"}
    assert m["ok"].gauge.data_points[0].exemplars[0].time_unix_nano == 1000 * 1_000_000
    assert m["c_total"].sum.data_points[0].start_time_unix_nano == 1_000_000_000
    assert m["h"].histogram.data_points[0].start_time_unix_nano == 1_000_000_000
    assert t.stats.dropped_points == 2 and t.stats.errors == 0
