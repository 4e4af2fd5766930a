"""``scrape-agent check-sd`` against the local API server (output as promtool's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from agent.devtools.k8s_apiserver import FakeAPIServer

CONFIG = """
scrape_configs:
  - job_name: pods
    kubernetes_sd_configs:
      - role: pod
        api_server: {url}
        namespaces:
          names: [shop]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_container_port_name]
        regex: http
        action: keep
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
  - job_name: static
    static_configs:
      - targets: ["127.0.0.1:9100"]
        labels: {{team: infra}}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["check-sd", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_check_sd_kubernetes_job(
    api: FakeAPIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(CONFIG.format(url=api.url))
    rc, out, err = run(capsys, str(cfg), "pods", "--timeout", "20")
    assert rc == 0, err
    results = json.loads(out)
    kept = [r for r in results if r["labels"] is not None]
    dropped = [r for r in results if r["labels"] is None]
    assert {r["labels"]["__address__"] for r in kept} == {"10.244.0.9:8080", "10.244.1.5:8080"}
    # envoy's admin port and the init container are dropped by the keep rule
    assert len(dropped) == 2 and all(r["error"] is None for r in results)
    one = next(r for r in kept if r["labels"]["__address__"] == "10.244.0.9:8080")
    assert one["labels"]["pod"] == "web-5d9c7b8f6-aaaaa"
    assert one["labels"]["job"] == "pods"
    assert not any(k.startswith("__meta_") for k in one["labels"])
    d = one["discoveredLabels"]
    assert d["__meta_kubernetes_pod_container_name"] == "web"
    assert d["__meta_kubernetes_namespace"] == "shop"
    assert d["job"] == "pods" and d["__scheme__"] == "http"


def test_check_sd_static_job(
    api: FakeAPIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(CONFIG.format(url=api.url))
    rc, out, _ = run(capsys, str(cfg), "static")
    assert rc == 0
    (r,) = json.loads(out)
    assert r["labels"]["__address__"] == "127.0.0.1:9100"
    assert r["labels"]["team"] == "infra" and r["labels"]["instance"] == "127.0.0.1:9100"


def test_check_sd_unknown_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(CONFIG.format(url="http://127.0.0.1:1"))
    rc, _, err = run(capsys, str(cfg), "nope")
    assert rc == 1
    assert "no job named 'nope'" in err and "'pods'" in err


def test_check_sd_unreachable_api_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = FakeAPIServer().start()
    url = server.url
    server.stop()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(CONFIG.format(url=url))
    rc, out, err = run(capsys, str(cfg), "pods", "--timeout", "1.5")
    assert rc == 1
    assert json.loads(out) == []
    assert "job 'pods': kubernetes_sd_configs[0] (role pod): no targets after 1.5s" in err
    assert url.split("//")[1] in err  # the last error names the API server


def test_check_sd_in_cluster_without_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - role: node\n"
    )
    rc, _, err = run(capsys, str(cfg), "k", "--timeout", "5")
    assert rc == 1
    assert "not running in a cluster" in err and "Traceback" not in err
