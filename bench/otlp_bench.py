"""OTLP encoding and compression cost on a KSM-sized scrape (~140k samples).

    /work/venv/bin/python bench/otlp_bench.py [--samples 140000] [--repeat 3]

Prints µs/point for:
  - the OpenTelemetry SDK data classes + the SDK's OTLP encoder,
  - opentelemetry-proto messages built directly,
  - agent.translate.Translator (first scrape: cold caches; next scrapes: warm caches),
and the time/size of gzip level 1 vs 6 (and zstd when ``zstandard`` is importable) on the
Translator's output. Synthetic KSM-like samples: per pod ~70 series (gauges and counters) with
namespace/pod/uid/container/node labels.
"""

from __future__ import annotations

import argparse
import gzip
import time
from collections.abc import Callable
from typing import Any

from agent.config import AgentSection, QueueConfig
from agent.model import MetricMeta, Sample, ScrapeBatch, TargetInfo, labels_from_mapping
from agent.translate import Translator

JOB, INST = "kube-state-metrics", "10.0.3.7:8080"


def ksm_batch(n_samples: int, ts_ms: int, value_shift: float = 0.0) -> ScrapeBatch:
    metrics = [f"kube_pod_metric_{i}" for i in range(70)]
    meta: dict[str, MetricMeta] = {}
    for i, m in enumerate(metrics):
        if i % 5 == 0:
            meta[m + "_total"] = MetricMeta("counter", f"Help of {m}.")
        else:
            meta[m] = MetricMeta("gauge", f"Help of {m}.")
    samples: list[Sample] = []
    pod = 0
    while len(samples) < n_samples:
        base = {
            "job": JOB,
            "instance": INST,
            "namespace": f"ns-{pod % 40}",
            "pod": f"app-{pod}-7d9f8c6b5-x{pod % 97:02d}",
            "uid": f"0b7c{pod:08d}-1111-2222-3333-444455556666",
            "container": "main",
            "node": f"worker-{pod % 50}",
        }
        for i, m in enumerate(metrics):
            name = m + "_total" if i % 5 == 0 else m
            lab = dict(base, __name__=name)
            samples.append(Sample(labels_from_mapping(lab), float(pod + i) + value_shift, ts_ms))
            if len(samples) >= n_samples:
                break
        pod += 1
    target = TargetInfo(JOB, INST, "http", {"__scheme__": "http"})
    return ScrapeBatch(target, ts_ms, samples, meta)


def timeit(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def sdk_encode(batch: ScrapeBatch) -> bytes:
    from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        Gauge,
        Metric,
        MetricsData,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    groups: dict[str, list[NumberDataPoint]] = {}
    for s in batch.samples:
        name = ""
        attrs = {}
        for k, v in s.labels:
            if k == "__name__":
                name = v
            elif k not in ("job", "instance"):
                attrs[k] = v
        groups.setdefault(name, []).append(
            NumberDataPoint(attrs, 0, s.timestamp_ms * 1_000_000, s.value)
        )
    ms = []
    for name, pts in groups.items():
        data: Any
        if name.endswith("_total"):
            data = Sum(pts, AggregationTemporality.CUMULATIVE, True)
        else:
            data = Gauge(pts)
        ms.append(Metric(name, "help", "", data))
    md = MetricsData(
        [
            ResourceMetrics(
                Resource({"service.name": JOB, "service.instance.id": INST}),
                [ScopeMetrics(InstrumentationScope("bench", "1"), ms, "")],
                "",
            )
        ]
    )
    return bytes(encode_metrics(md).SerializeToString())


def proto_encode(batch: ScrapeBatch) -> bytes:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    for k, v in (("service.name", JOB), ("service.instance.id", INST)):
        kv = rm.resource.attributes.add()
        kv.key = k
        kv.value.string_value = v
    sm = rm.scope_metrics.add()
    sm.scope.name = "bench"
    metrics: dict[str, Any] = {}
    for s in batch.samples:
        name = ""
        for k, v in s.labels:
            if k == "__name__":
                name = v
                break
        m = metrics.get(name)
        if m is None:
            m = metrics[name] = sm.metrics.add()
            m.name = name
            m.description = "help"
            if name.endswith("_total"):
                m.sum.aggregation_temporality = 2
                m.sum.is_monotonic = True
        dps = m.sum.data_points if name.endswith("_total") else m.gauge.data_points
        p = dps.add()
        p.time_unix_nano = s.timestamp_ms * 1_000_000
        p.as_double = s.value
        for k, v in s.labels:
            if k not in ("__name__", "job", "instance"):
                a = p.attributes.add()
                a.key = k
                a.value.string_value = v
    return bytes(req.SerializeToString())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--samples", type=int, default=140_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.samples
    b1 = ksm_batch(n, 1_000_000)
    print(f"# {n} KSM-like samples, best of {args.repeat}")

    t, raw = timeit(lambda: sdk_encode(b1), args.repeat)
    print(f"sdk dataclasses + encoder : {t * 1e6 / n:7.2f} µs/point  ({len(raw) / 1e6:.1f} MB)")
    t, raw = timeit(lambda: proto_encode(b1), args.repeat)
    print(f"opentelemetry-proto msgs  : {t * 1e6 / n:7.2f} µs/point  ({len(raw) / 1e6:.1f} MB)")

    agent = AgentSection(queue=QueueConfig(batch_max_points=8192))
    cold_times = []
    for _ in range(args.repeat):
        tr = Translator(agent, env={})
        t0 = time.perf_counter()
        tr.translate(b1)
        cold_times.append(time.perf_counter() - t0)
    print(f"scrape-agent, cold cache  : {min(cold_times) * 1e6 / n:7.2f} µs/point")
    tr = Translator(agent, env={})
    tr.translate(b1)
    warm = []
    out: list[Any] = []
    for i in range(args.repeat):
        # Same series, new values and timestamp; the Labels tuples are reused as the scrape
        # stage's per-target series cache hands them over.
        ts = 1_000_000 + 15_000 * (i + 1)
        b = ScrapeBatch(
            b1.target,
            ts,
            [Sample(x.labels, x.value + i + 1.0, ts) for x in b1.samples],
            b1.metadata,
        )
        t0 = time.perf_counter()
        out = tr.translate(b)
        warm.append(time.perf_counter() - t0)
    size = sum(len(e.payload) for e in out)
    print(
        f"scrape-agent, warm cache  : {min(warm) * 1e6 / n:7.2f} µs/point  "
        f"({size / 1e6:.1f} MB in {len(out)} requests of <= 8192 points)"
    )
    import gc
    import tracemalloc

    del tr
    gc.collect()
    tracemalloc.start()
    tr = Translator(agent, env={})
    tr.translate(b1)
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"translator state          : {retained / n:7.0f} B/series retained between scrapes, "
        f"{peak / 1e6:.0f} MB peak during a cold {n}-sample scrape"
    )
    per_req = [e.payload for e in out]
    for level in (1, 6):
        t, comp = timeit(
            lambda lv=level: [gzip.compress(p, compresslevel=lv, mtime=0) for p in per_req],  # type: ignore[misc]
            args.repeat,
        )
        csize = sum(len(c) for c in comp)
        print(
            f"gzip level {level}              : {t * 1e6 / n:7.2f} µs/point  "
            f"{size / csize:5.1f}x  ({csize / 1e6:.2f} MB)"
        )
    try:
        import zstandard
    except ImportError:
        print("zstd                      : (zstandard not installed)")
    else:
        for level in (1, 3):
            cctx = zstandard.ZstdCompressor(level=level)
            t, comp = timeit(lambda c=cctx: [c.compress(p) for p in per_req], args.repeat)  # type: ignore[misc]
            csize = sum(len(c) for c in comp)
            print(
                f"zstd level {level}              : {t * 1e6 / n:7.2f} µs/point  "
                f"{size / csize:5.1f}x  ({csize / 1e6:.2f} MB)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
