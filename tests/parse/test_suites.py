"""Upstream conformance data (read from ../shared/realdata; skipped when absent).

- the official OpenMetrics parser test suite (OpenObservability/OpenMetrics
  tests/testdata/parsers): strict mode must match every case's ``shouldParse``; the default
  (Prometheus-compatible) mode must accept every good case;
- Prometheus' own parser error cases (TestPromParseErrors, TestOpenMetricsParseErrors and the
  NUL byte tests of model/textparse): error where Prometheus errors, parse where it parses;
- every real exposition page under realdata parses.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.scrape.parse import ParseError, Parser

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
SUITE = REALDATA / "openmetrics_testsuite" / "parsers"
ERRORS = REALDATA / "prometheus_textparse" / "parser_error_cases.yaml"


def _suite_cases() -> list[Any]:
    if not SUITE.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/realdata absent"))]
    out = []
    for d in sorted(SUITE.iterdir()):
        meta = json.loads((d / "test.json").read_text())
        out.append(pytest.param((d / meta["file"], bool(meta["shouldParse"])), id=d.name))
    return out


def _parses(data: bytes, fmt: str, strict: bool = False) -> bool:
    try:
        Parser(strict=strict).parse(data, fmt)
    except ParseError:
        return False
    return True


@pytest.mark.parametrize("case", _suite_cases())
def test_openmetrics_suite_strict(case: tuple[Path, bool]) -> None:
    path, should_parse = case
    assert _parses(path.read_bytes(), "openmetrics", strict=True) is should_parse


def test_openmetrics_suite_counts() -> None:
    """Strict matches all; the Prometheus-compatible mode accepts all good cases and still
    rejects the syntax errors (figures for the report)."""
    if not SUITE.is_dir():
        pytest.skip("../shared/realdata absent")
    strict_ok = lenient_good = lenient_bad_rejected = good = bad = 0
    for d in sorted(SUITE.iterdir()):
        meta = json.loads((d / "test.json").read_text())
        data = (d / meta["file"]).read_bytes()
        should = bool(meta["shouldParse"])
        strict_ok += _parses(data, "openmetrics", strict=True) is should
        lenient = _parses(data, "openmetrics")
        if should:
            good += 1
            lenient_good += lenient
        else:
            bad += 1
            lenient_bad_rejected += not lenient
    assert strict_ok == good + bad
    assert lenient_good == good
    assert lenient_bad_rejected >= 80  # syntax-level errors, as Prometheus rejects them
    print(f"strict {strict_ok}/{good + bad}; lenient rejects {lenient_bad_rejected}/{bad} bad")


def _error_cases() -> list[Any]:
    if not ERRORS.is_file():
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/realdata absent"))]
    doc = yaml.safe_load(ERRORS.read_text())
    out = []
    for group in doc["groups"]:
        fmt = "openmetrics" if group["format"].startswith("openmetrics") else "text"
        for i, c in enumerate(group["cases"]):
            inp = c["input"]
            data = base64.b64decode(inp["base64"]) if "base64" in inp else inp["text"].encode()
            # err "EOF" is io.EOF: the body parsed to its end without error
            want_error = bool(c["expect_error"]) and c["error"] != "EOF"
            out.append(pytest.param((fmt, data, want_error, c["error"]), id=f"{group['test']}-{i}"))
    return out


@pytest.mark.parametrize("case", _error_cases())
def test_prometheus_parser_error_cases(case: tuple[str, bytes, bool, str]) -> None:
    fmt, data, want_error, prom_error = case
    if want_error:
        with pytest.raises(ParseError) as ei:
            Parser().parse(data, fmt)
        assert str(ei.value).startswith("line ")
    else:
        Parser().parse(data, fmt)


REAL_PAGES = [
    ("cadvisor_golden/prometheus_machine_metrics.txt", "text"),
    ("cadvisor_golden/prometheus_metrics.txt", "text"),
    ("cadvisor_golden/prometheus_metrics_perf_aggregated.txt", "text"),
    ("datadog_fixtures_2018/datadog_checks_base_prometheus_ksm.txt", "text"),
    ("datadog_fixtures_2018/kubelet_cadvisor_metrics.txt", "text"),
    ("datadog_fixtures_2018/kubelet_kubelet_metrics.txt", "text"),
    ("datadog_fixtures_2018/kubernetes_state_prometheus.txt", "text"),
    ("k8s_real_cluster_nri/v1_16_docker/ksm_metrics.txt", "text"),
    ("k8s_real_cluster_nri/v1_16_docker/kubelet_metrics_cadvisor.txt", "text"),
    ("k8s_real_cluster_nri/v1_31/ksm_metrics.txt", "text"),
    ("k8s_real_cluster_nri/v1_31/kubelet_metrics_cadvisor.txt", "text"),
    ("k8s_real_cluster_nri/v1_35/ksm/metrics", "text"),
    ("k8s_real_cluster_nri/v1_35/kubelet/metrics/cadvisor", "text"),
    ("kubelet/eks_kubelet_metrics_resource.txt", "text"),
    ("kubelet/netdata_kubelet_metrics.txt", "text"),
    ("prometheus_textparse/alltypes.237mfs.prom.txt", "text"),
    ("prometheus_textparse/alltypes.237mfs.nometa.prom.txt", "text"),
    ("prometheus_textparse/metrics-test.prom", "text"),
    ("prometheus_textparse/promparse_test_input.prom.bin", "text"),
    ("prometheus_textparse/promparse_utf8_input.prom.txt", "text"),
    ("prometheus_textparse/1histogram.om.txt", "openmetrics"),
    ("prometheus_textparse/alltypes.5mfs.om.txt", "openmetrics"),
    ("prometheus_textparse/omparse_test_input.om.bin", "openmetrics"),
    ("prometheus_textparse/omparse_utf8_input.om.txt", "openmetrics"),
]


@pytest.mark.parametrize(("rel", "fmt"), REAL_PAGES, ids=[r for r, _ in REAL_PAGES])
def test_real_pages_parse(rel: str, fmt: str) -> None:
    path = REALDATA / rel
    if not path.is_file():
        pytest.skip("../shared/realdata absent")
    p = Parser()
    r = p.parse(path.read_bytes(), fmt)
    assert r.samples
    # second parse (all series cached) gives the same result
    again = p.parse(path.read_bytes(), fmt)
    assert repr(again.samples) == repr(r.samples)
    for series, *_ in r.samples:
        name, _labels = p.series_labels(series)
        assert name


def test_promparse_input_details() -> None:
    path = REALDATA / "prometheus_textparse" / "promparse_test_input.prom.bin"
    if not path.is_file():
        pytest.skip("../shared/realdata absent")
    p = Parser()
    r = p.parse(path.read_bytes(), "text")
    got = {s: (v, ts) for s, v, ts, _ in r.samples}
    # values and timestamps as TestPromParse expects them
    assert got["go_goroutines"] == (33.0, 123123)
    assert p.series_labels('some:aggregate:rate5m{a_b="c"}') == (
        "some:aggregate:rate5m",
        (("a_b", "c"),),
    )
    assert r.metadata["go_gc_duration_seconds"].type == "summary"  # from "# <tab>TYPE"
    assert r.metadata["some_counter_total"].help == "Help after type."
    assert r.metadata["nohelp1"].help == ""
    nul = [s for s in got if s.startswith("null_byte_metric")]
    assert p.series_labels(nul[0]) == ("null_byte_metric", (("a", "abc\x00"),))
