"""The page generator: deterministic, realistic, parseable, churn that renames pods."""

from __future__ import annotations

import re
import subprocess
import sys

from agent.devtools.pages import cadvisor_page, go_float, histogram_page, ksm_page
from agent.scrape.parse import Parser


def test_go_float_format() -> None:
    assert [go_float(v) for v in (1, 0, 110, 0.25, 8.216887296e9, 1782468733, 1e-5, 123456)] == [
        "1", "0", "110", "0.25", "8.216887296e+09", "1.782468733e+09", "1e-05", "123456",
    ]  # fmt: skip
    assert go_float(float("nan")) == "NaN" and go_float(float("-inf")) == "-Inf"


def test_deterministic() -> None:
    assert ksm_page(nodes=3, pods=40) == ksm_page(nodes=3, pods=40)
    assert ksm_page(nodes=3, pods=40, seed=1) != ksm_page(nodes=3, pods=40)
    assert cadvisor_page(pods=5) == cadvisor_page(pods=5)
    assert histogram_page(series=10) == histogram_page(series=10)


def test_ksm_default_size_and_shape() -> None:
    p = Parser()
    r = p.parse(ksm_page(), "text")
    assert 130_000 <= len(r.samples) <= 150_000
    names = {p.series_labels(s)[0] for s, *_ in r.samples}
    assert {"kube_pod_info", "kube_node_status_condition", "kube_deployment_status_replicas",
            "kube_pod_container_resource_requests"} <= names  # fmt: skip
    assert r.metadata["kube_pod_container_status_restarts_total"].type == "counter"
    pods = {
        dict(p.series_labels(s)[1])["pod"] for s, *_ in r.samples if s.startswith("kube_pod_info")
    }
    assert len(pods) == 3000


def test_churn_renames_a_fraction_and_cache_stays_bounded() -> None:
    def pods(page: bytes) -> set[bytes]:
        return set(re.findall(rb'pod="([^"]+)"', page))

    base = ksm_page(nodes=4, pods=200)
    gens = [ksm_page(nodes=4, pods=200, churn=0.1, generation=g) for g in range(1, 6)]
    assert gens[0] == ksm_page(nodes=4, pods=200, churn=0.1, generation=1)
    changed = len(pods(gens[0]) - pods(base))
    assert 10 <= changed <= 35
    assert len(pods(gens[1]) - pods(gens[0])) == changed
    parser = Parser()
    sizes = []
    for page in [base, *gens]:
        n = len(parser.parse(page, "text").samples)
        parser.sweep()
        sizes.append(len(parser))
    assert max(sizes) == min(sizes) == n  # every series is unique on these pages


def test_cadvisor_and_histogram_pages_parse() -> None:
    p = Parser()
    r = p.parse(cadvisor_page(), "text")
    assert 10_000 < len(r.samples) < 20_000
    assert sum(ts is not None for _, _, ts, _ in r.samples) > len(r.samples) * 0.9
    h = p.parse(histogram_page(), "text")
    assert h.metadata["apiserver_request_duration_seconds"].type == "histogram"
    assert h.metadata["go_gc_duration_seconds"].type == "summary"
    buckets = [s for s, *_ in h.samples if "_bucket{" in s]
    assert len(buckets) > len(h.samples) * 0.8


def test_module_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "agent.devtools.pages", "ksm", "--nodes", "2", "--pods", "5"],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout == ksm_page(nodes=2, pods=5)


def test_openmetrics_variants_are_spec_valid_and_equal() -> None:
    for make in (lambda om: ksm_page(nodes=3, pods=50, openmetrics=om),
                 lambda om: histogram_page(series=20, openmetrics=om)):  # fmt: skip
        text = Parser().parse(make(False), "text")
        om = Parser(strict=True).parse(make(True), "openmetrics")
        assert repr(om.samples) == repr(text.samples)
        counters = {k for k, m in text.metadata.items() if m.type == "counter"}
        assert counters and {k[: -len("_total")] for k in counters} <= set(om.metadata)
