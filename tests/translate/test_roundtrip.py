"""Property: whatever labels and values come in, the hand-encoded request decodes (with
opentelemetry-proto) to exactly those points and attributes."""

from __future__ import annotations

import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from agent.config import AgentSection, QueueConfig
from agent.model import MetricMeta, Sample, ScrapeBatch, TargetInfo, labels_from_mapping
from agent.translate import Translator

names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda n: (
        n not in ("job", "instance", "le", "quantile") and not n.startswith(("otel_scope_", "__"))
    )
)
values = st.text(min_size=0, max_size=40)  # any unicode, empty included
label_sets = st.dictionaries(names, values, max_size=6)
floats = st.floats(allow_nan=False) | st.just(math.nan)


def bits(v: float) -> bytes:
    return struct.pack("<d", v)


@settings(max_examples=60, deadline=None)
@given(
    series=st.lists(st.tuples(label_sets, floats, st.booleans()), min_size=1, max_size=30),
    max_points=st.integers(min_value=1, max_value=7),
)
def test_gauges_and_counters_roundtrip(
    series: list[tuple[dict[str, str], float, bool]], max_points: int
) -> None:
    t = Translator(AgentSection(queue=QueueConfig(batch_max_points=max_points)), env={})
    target = TargetInfo("j", "h:1", "http", {})
    samples = []
    expected = {}
    for i, (labels, value, counter) in enumerate(series):
        name = f"m{i}_total" if counter else f"m{i}"
        lab = labels_from_mapping({**labels, "__name__": name, "job": "j", "instance": "h:1"})
        samples.append(Sample(lab, value, 5000 + i))
        expected[name] = ({k: v for k, v in labels.items() if v}, bits(value), 5000 + i)
    meta = {f"m{i}": MetricMeta("counter") for i, (_, _, c) in enumerate(series) if c}
    out = t.translate(ScrapeBatch(target, 5000, samples, meta))
    assert all(e.points <= max_points for e in out)
    got = {}
    for enc in out:
        req = ExportMetricsServiceRequest.FromString(enc.payload)
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    assert kind == ("sum" if m.name.endswith("_total") else "gauge")
                    for p in getattr(m, kind).data_points:
                        attrs = {kv.key: kv.value.string_value for kv in p.attributes}
                        got[m.name] = (attrs, bits(p.as_double), p.time_unix_nano // 1_000_000)
                        if kind == "sum":
                            assert p.start_time_unix_nano == p.time_unix_nano
    assert got == expected
