"""The check-config and relabel commands, run as users run them (``python -m agent ...``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "config"
GOOD = FIXTURES / "good"
BAD = FIXTURES / "bad"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "NODE_NAME": "node-a"},
    )


def test_check_config_ok() -> None:
    p = run("check-config", str(GOOD / "signoz-ksm-cadvisor.yaml"))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "config OK: 2 jobs (kube-state-metrics, kubelet-cadvisor), 7 relabel rules\n"


def test_check_config_several_files_and_failure() -> None:
    good = GOOD / "full-prometheus.yaml"
    bad = BAD / "timeout-gt-interval.yaml"
    p = run("check-config", str(good), str(bad))
    assert p.returncode == 1
    assert p.stdout == f"{good}: config OK: 2 jobs (node, apps), 3 relabel rules\n"
    assert f"{bad}: config FAILED: 1 error" in p.stderr
    assert (
        f'{bad}:5: scrape_configs[0] (job "a"): scrape_timeout: scrape timeout greater than scrape interval'
        in p.stderr
    )
    assert "Traceback" not in p.stderr


def test_check_config_reports_every_error(tmp_path: Path) -> None:
    cfg = tmp_path / "p.yml"
    cfg.write_text(
        "scrape_configs:\n"
        "  - job_name: kubelet\n"
        "    metric_relabel_configs:\n"
        "      - action: replce\n"
        "    tls_config: {cert_file: c.pem}\n"
        "  - job_name: kubelet\n"
    )
    p = run("check-config", "p.yml", cwd=tmp_path)
    assert p.returncode == 1
    lines = [ln.strip() for ln in p.stderr.splitlines()]
    assert lines[0] == "p.yml: config FAILED: 3 errors"
    assert (
        'p.yml:4: scrape_configs[0] (job "kubelet"): metric_relabel_configs[0].action: unknown relabel action "replce"'
        in lines
    )
    assert any(
        ln.startswith('p.yml:5: scrape_configs[0] (job "kubelet"): tls_config: exactly one of key')
        for ln in lines
    )
    assert (
        'p.yml:6: scrape_configs[1] (job "kubelet"): found multiple scrape configs with job name "kubelet"'
        in lines
    )


def test_check_config_warnings_and_print() -> None:
    p = run("check-config", "--print", str(GOOD / "ignored-sections.yaml"))
    assert p.returncode == 0
    assert "warning: " in p.stderr and "remote_write: ignored" in p.stderr
    assert p.stdout.startswith("config OK: 1 job (x), 0 relabel rules\n")
    assert "job_name: x" in p.stdout


def test_check_config_print_redacts() -> None:
    p = run("check-config", "--print", str(GOOD / "full-prometheus.yaml"))
    assert p.returncode == 0
    assert "s3cret" not in p.stdout
    assert "password: <secret>" in p.stdout


def test_relabel_target_trace() -> None:
    p = run(
        "relabel",
        f"--config.file={GOOD / 'signoz-ksm-cadvisor.yaml'}",
        "--job=kubelet-cadvisor",
        "__address__=10.0.0.5:10250",
        "__meta_kubernetes_node_name=worker-1",
        "__meta_kubernetes_node_label_topology_kubernetes_io_zone=eu-1a",
    )
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "added by the scrape config before relabelling: job, __scrape_interval__" in out
    assert '__scheme__="https"' in out and '__scrape_interval__="30s"' in out
    assert '+ topology_kubernetes_io_zone="eu-1a"' in out
    assert '~ __address__: "10.0.5:10250"' not in out
    assert '~ __address__: "10.0.0.5:10250" -> "kubernetes.default.svc:443"' in out
    assert (
        '~ __metrics_path__: "/metrics" -> "/api/v1/nodes/worker-1/proxy/metrics/cadvisor"' in out
    )
    tail = out.split("target labels (attached to every scraped series):", 1)[1]
    assert 'instance="kubernetes.default.svc:443"' in tail
    assert 'job="kubelet-cadvisor"' in tail
    assert "__meta_" not in tail and "__address__" not in tail
    assert (
        "scrape URL: https://kubernetes.default.svc:443/api/v1/nodes/worker-1/proxy/metrics/cadvisor"
        in out
    )


def test_relabel_metric_trace_drop() -> None:
    p = run(
        "relabel",
        f"--config.file={GOOD / 'signoz-ksm-cadvisor.yaml'}",
        "--job=kubelet-cadvisor",
        "--metric",
        "__name__=container_memory_rss",
        "namespace=kube-system",
    )
    assert p.returncode == 0, p.stderr
    assert "[0] {action: keep" in p.stdout
    assert "-> DROPPED" in p.stdout
    assert p.stdout.rstrip().endswith("result: the series is dropped by rule [1]")

    p = run(
        "relabel",
        f"--config.file={GOOD / 'signoz-ksm-cadvisor.yaml'}",
        "--job=kube-state-metrics",
        "--metric",
        "__name__=kube_pod_info",
        "pod=web-0",
    )
    assert p.returncode == 0, p.stderr
    result = p.stdout.split("result labels:", 1)[1]
    assert '__name__="kube_pod_info"' in result and 'cluster="dev-cluster"' in result


def test_relabel_collector_config_and_errors() -> None:
    cfg = str(GOOD / "collector-receiver.yaml")
    p = run(
        "relabel",
        f"--config.file={cfg}",
        "--job=shop-db",
        "__address__=10.1.2.3:9104",
        "__meta_kubernetes_service_label_app_kubernetes_io_instance=other",
        "__meta_kubernetes_service_labelpresent_app_kubernetes_io_instance=true",
    )
    assert p.returncode == 0, p.stderr
    assert '+ __tmp_prometheus_job_name="shop-db"' in p.stdout  # $$1 meant $1
    assert "result: the target is dropped by rule [1]" in p.stdout

    p = run("relabel", f"--config.file={cfg}", "--job=nope", "a=b")
    assert p.returncode == 1 and 'no job "nope"' in p.stderr and "shop-db" in p.stderr
    p = run("relabel", f"--config.file={cfg}", "--job=shop-db", "novalue")
    assert p.returncode == 1 and "is not of the form LABEL=VALUE" in p.stderr
    p = run("relabel", f"--config.file={BAD / 'unknown-action.yaml'}", "--job=kubelet")
    assert p.returncode == 1 and "unknown relabel action" in p.stderr


def test_check_config_file_sd_notes(tmp_path: Path) -> None:
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "a.json").write_text("[]")
    cfg = tmp_path / "p.yml"
    cfg.write_text(
        "scrape_configs:\n"
        "  - job_name: f\n"
        "    file_sd_configs:\n"
        "      - files: [targets/*.json, missing/*.yml]\n"
    )
    p = run("check-config", "p.yml", cwd=tmp_path)
    assert p.returncode == 0
    assert p.stderr.count("warning: ") == 1
    assert 'job "f": file_sd_configs[0]: "missing/*.yml" matches no file' in p.stderr
    p = run("check-config", "--no-warnings", "p.yml", cwd=tmp_path)
    assert p.returncode == 0 and p.stderr == ""
