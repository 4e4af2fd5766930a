"""Real expositions (``../shared/realdata``, skipped when absent) through the real parser and the
Translator: nothing raises, every sample is accounted for, histograms are consistent."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from agent.config import AgentSection
from agent.model import Sample, ScrapeBatch, TargetInfo, labels_from_mapping
from agent.translate import Translator

REAL = Path(__file__).resolve().parents[3] / "shared" / "realdata"
FILES = [
    ("prometheus_textparse/alltypes.5mfs.om.txt", "openmetrics"),
    ("prometheus_textparse/1histogram.om.txt", "openmetrics"),
    ("prometheus_textparse/metrics-test.prom", "text"),
    ("kubelet/eks_kubelet_metrics_resource.txt", "text"),
    ("cadvisor_golden/prometheus_metrics.txt", "text"),
    ("k8s_real_cluster_nri/v1_31/ksm_metrics.txt", "text"),
]


@pytest.mark.parametrize("rel,fmt", FILES)
def test_real_exposition(rel: str, fmt: str) -> None:
    path = REAL / rel
    if not path.exists():
        pytest.skip(f"{path} not available (../shared is absent in a user's clone)")
    parse = pytest.importorskip("agent.scrape.parse")
    parser = parse.Parser()
    try:
        result = parser.parse(path.read_bytes(), fmt)
    except parse.ParseError as e:
        pytest.skip(f"parser rejects {rel}: {e}")
    target = TargetInfo("real", "10.0.0.1:9100", "http", {"__scheme__": "http"})
    t = Translator(AgentSection(), env={})
    total_points = 0
    for scrape in range(2):
        ts = 1_700_000_000_000 + scrape * 15_000
        samples = []
        for series, value, sts, ex in result.samples:
            name, pairs = parser.series_labels(series)
            lab = {**dict(pairs), "__name__": name, "job": "real", "instance": "10.0.0.1:9100"}
            samples.append(Sample(labels_from_mapping(lab), value, sts or ts, ex))
        out = t.translate(ScrapeBatch(target, ts, samples, result.metadata))
        for enc in out:
            req = ExportMetricsServiceRequest.FromString(enc.payload)
            n = 0
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        kind = m.WhichOneof("data")
                        assert kind is not None
                        for p in getattr(m, kind).data_points:
                            n += 1
                            if kind == "histogram":
                                assert sum(p.bucket_counts) == p.count
                                assert len(p.bucket_counts) == len(p.explicit_bounds) + 1
                            if kind in ("sum", "histogram", "summary"):
                                assert p.start_time_unix_nano > 0
            assert n == enc.points
            total_points += n
    assert t.stats.errors == 0
    assert total_points == t.stats.points_out > 0
