"""Oracle: Debian's Prometheus (2.42) relabels the same targets; our ``process`` must agree.

Prometheus is started on 127.0.0.1 with static targets (unreachable addresses are fine: they
still appear in the targets API) and a set of ``relabel_configs`` per job. For every job we
run ``relabel.process`` on each target's input as Prometheus builds it (target labels plus job,
__address__, __scheme__, __metrics_path__, __scrape_interval__, __scrape_timeout__) and check
that the same number of targets is dropped and the kept ones carry the same public labels (no
``__`` labels; ``instance`` defaulting to ``__address__``). Besides hand-written jobs, 40 jobs draw their rules (seeded)
from a pool, so one Prometheus run checks ~300 targets.

Kept out of the oracle because 2.42 differs from Prometheus 3 by design: keepequal/dropequal/
lowercase/uppercase (absent in 2.42), UTF-8 label names (2.42 is legacy-only, so rules are
parsed with ``validation_scheme="legacy"``), ``.`` matching newline (2.42 anchors without
``(?s:``), ``(?<name>`` groups (Go < 1.22), and labelmap clashes whose result depends on
Builder iteration order.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import relabel

PROMETHEUS = shutil.which("prometheus") or (
    "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
)

# job name -> (relabel_configs, [(address, target labels)])
TARGETS = [
    ("10.0.0.1:9100", {"env": "prod", "team": "a", "__meta_pod": "web-7d9f-abc"}),
    ("10.0.0.2:8080", {"env": "dev", "team": "b", "__meta_pod": "db-0"}),
    ("10.0.0.3:9090", {"env": "staging", "__meta_pod": "go_gc-1", "port_name": "http-metrics"}),
    ("host.example:443", {"team": "c", "__meta_tags": "path:/secret,job:tagged,label:foo=bar"}),
    ("10.0.0.5:10250", {"__meta_node_label_kubernetes_io_os": "linux", "zone": "eu-1b"}),
    ("[::1]:9100", {"env": "prod", "__meta_pod": "żółw-1"}),
]

JOBS: dict[str, list[dict[str, Any]]] = {
    "replace": [
        {"source_labels": ["__meta_pod"], "regex": "([^-]+)-.*", "target_label": "app"},
        {"source_labels": ["env", "team"], "separator": "/", "target_label": "owner"},
        {
            "source_labels": ["__address__"],
            "regex": "(.+):(\\d+)",
            "target_label": "port",
            "replacement": "${2}",
        },
        {"target_label": "cluster", "replacement": "c1"},
        {"source_labels": ["missing"], "target_label": "team"},
        {
            "source_labels": ["env"],
            "regex": "(pr)(od)",
            "target_label": "x",
            "replacement": "$2$$$1x-${1}x",
        },
    ],
    "templated_target": [
        {
            "source_labels": ["__meta_tags"],
            "regex": "(?:.+,|^)path:(/[^,]+).*",
            "target_label": "__metrics_path__",
        },
        {
            "source_labels": ["__meta_tags"],
            "regex": "(?:.+,|^)label:([^=]+)=([^,]+).*",
            "target_label": "${1}",
            "replacement": "${2}",
        },
        {
            "source_labels": ["env"],
            "regex": "(?P<e>.*)",
            "target_label": "env_${e}",
            "replacement": "yes",
        },
        {
            "source_labels": ["__meta_pod"],
            "regex": "(.*)",
            "target_label": "${1}",
            "replacement": "v",
        },
    ],
    "keep": [
        {"source_labels": ["env"], "regex": "prod|dev", "action": "keep"},
    ],
    "drop": [
        {"source_labels": ["__meta_pod"], "regex": "go_.*", "action": "drop"},
        {"source_labels": ["team"], "regex": "", "action": "drop"},
    ],
    "drop_anchored": [
        {"source_labels": ["env"], "regex": "pro", "action": "drop"},
        {"source_labels": ["port_name"], "regex": ".*-metrics", "action": "drop"},
    ],
    "hashmod": [
        {
            "source_labels": ["__address__"],
            "target_label": "__tmp_hash",
            "modulus": 3,
            "action": "hashmod",
        },
        {"source_labels": ["__tmp_hash"], "regex": "1", "action": "keep"},
        {
            "source_labels": ["__address__", "env"],
            "target_label": "shard",
            "modulus": 1000,
            "action": "hashmod",
        },
    ],
    "labelmap": [
        {"regex": "__meta_node_label_(.+)", "action": "labelmap"},
        {"regex": "__meta_(pod|tags)", "replacement": "meta_$1", "action": "labelmap"},
    ],
    "labeldrop_keep": [
        {"regex": "team|zone", "action": "labeldrop"},
        {"regex": "__.*|env|port_name", "action": "labelkeep"},
    ],
    "instance": [
        {"source_labels": ["__meta_pod"], "regex": "(.+)", "target_label": "instance"},
        {
            "source_labels": ["__address__"],
            "regex": "10\\.0\\.0\\.1:.*",
            "target_label": "instance",
            "replacement": "",
        },
    ],
    "regex_syntax": [
        {"source_labels": ["__meta_pod"], "regex": "(\\pL+)-.*", "target_label": "letters"},
        {
            "source_labels": ["__address__"],
            "regex": "(\\d+)\\.(\\d+).*",
            "target_label": "octets",
            "replacement": "$1.$2",
        },
        {
            "source_labels": ["__meta_pod"],
            "regex": "(.+?)(-[[:alnum:]]+)?",
            "target_label": "lazy",
            "replacement": "$1|$2",
        },
        {"source_labels": ["zone"], "regex": "(?i)EU-(.*)", "target_label": "az"},
        {"source_labels": ["env"], "regex": "^(prod)$", "target_label": "anchored"},
    ],
    "scheme_path": [
        {
            "source_labels": ["__address__"],
            "regex": ".*:443",
            "target_label": "__scheme__",
            "replacement": "https",
        },
        {
            "source_labels": ["__scheme__", "__metrics_path__"],
            "separator": "",
            "target_label": "url_bits",
        },
        {"source_labels": ["__scrape_interval__", "__scrape_timeout__"], "target_label": "timing"},
    ],
}


# Randomised jobs: rules drawn (seeded, so the test is deterministic) from a pool of
# 2.42-compatible rules that never remove or break __address__.
RULE_POOL: list[dict[str, Any]] = [
    {"source_labels": ["env"], "regex": "prod|staging", "action": "keep"},
    {"source_labels": ["env"], "regex": "dev", "action": "drop"},
    {
        "source_labels": ["team", "env"],
        "regex": "(.+);(.+)",
        "target_label": "te",
        "replacement": "$2.$1",
    },
    {"source_labels": ["team"], "regex": "", "action": "drop"},
    {
        "source_labels": ["__meta_pod"],
        "regex": "(\\w+)[-_](.*)",
        "target_label": "${1}_part",
        "replacement": "$2",
    },
    {
        "source_labels": ["__meta_pod"],
        "regex": "(?P<head>[a-z]+).*",
        "target_label": "head",
        "replacement": "${head}",
    },
    {
        "source_labels": ["zone"],
        "regex": "(eu|us)-(\\d)([a-z])",
        "target_label": "region",
        "replacement": "$1$2",
    },
    {"source_labels": ["__address__"], "target_label": "shard", "modulus": 4, "action": "hashmod"},
    {"source_labels": ["shard"], "regex": "[02]", "action": "keep"},
    {"source_labels": ["__meta_tags"], "regex": ".*job:([^,]+).*", "target_label": "job"},
    {"regex": "__meta_node_label_(.+)", "action": "labelmap"},
    {"regex": "__meta_(pod|tags)", "replacement": "m_${1}", "action": "labelmap"},
    {"regex": "(env|team)", "replacement": "orig_$1", "action": "labelmap"},
    {"regex": "team|zone|m_.*", "action": "labeldrop"},
    {"regex": "__.+|env|job|instance|shard|region", "action": "labelkeep"},
    {"target_label": "cluster", "replacement": "c$$1"},
    {"target_label": "env", "replacement": ""},
    {"source_labels": ["missing"], "target_label": "team"},
    {"source_labels": ["env", "missing", "team"], "separator": "", "target_label": "joined"},
    {"source_labels": ["instance"], "regex": "(.*)", "target_label": "prev_instance"},
    {
        "source_labels": ["__address__"],
        "regex": "([^:]+):(\\d+)",
        "target_label": "instance",
        "replacement": "$1",
    },
    {
        "source_labels": ["port_name"],
        "regex": "(.*)-metrics",
        "target_label": "__metrics_path__",
        "replacement": "/$1",
    },
    {
        "source_labels": ["job", "env"],
        "regex": "random_(\\d+);prod",
        "target_label": "n",
        "replacement": "${1}0",
    },
    {"source_labels": ["__meta_pod"], "regex": ".*[^\\x00-\\x7f].*", "action": "drop"},
    {
        "source_labels": ["env"],
        "regex": "(?i)PROD",
        "target_label": "env_upper_match",
        "replacement": "y",
    },
]


def _random_jobs(count: int, seed: int = 20261122) -> dict[str, list[dict[str, Any]]]:
    rnd = random.Random(seed)
    return {
        f"random_{i}": [rnd.choice(RULE_POOL) for _ in range(rnd.randint(2, 6))]
        for i in range(count)
    }


JOBS.update(_random_jobs(40))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return json.load(resp)


@pytest.fixture(scope="module")
def prometheus_targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if PROMETHEUS is None:
        pytest.skip("prometheus binary not found (Debian package 'prometheus' provides it)")
    tmp = tmp_path_factory.mktemp("prom-oracle")
    scrape_configs = []
    for job, rules in JOBS.items():
        scrape_configs.append(
            {
                "job_name": job,
                "scrape_interval": "1h",
                "scrape_timeout": "5s",
                "static_configs": [{"targets": [addr], "labels": lbls} for addr, lbls in TARGETS],
                "relabel_configs": rules,
            }
        )
    cfg = tmp / "prometheus.yml"
    cfg.write_text(yaml.safe_dump({"scrape_configs": scrape_configs}, allow_unicode=True))
    port = _free_port()
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={cfg}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={tmp / 'data'}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    expected = len(JOBS) * len(TARGETS)
    url = f"http://127.0.0.1:{port}/api/v1/targets?state=any"
    data: dict[str, Any] | None = None
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.flush()
                pytest.fail(
                    "prometheus exited early:\n" + (tmp / "prometheus.log").read_text()[-2000:]
                )
            try:
                body = _get(url)
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                time.sleep(0.1)
                continue
            d = body["data"]
            if len(d["activeTargets"]) + len(d["droppedTargets"]) >= expected:
                data = d
                break
            time.sleep(0.1)
        if data is None:
            pytest.fail("prometheus did not report all targets within 15 s")
        yield data
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


DEFAULTS = {
    "__scheme__": "http",
    "__metrics_path__": "/metrics",
    "__scrape_interval__": "1h",
    "__scrape_timeout__": "5s",
}


def _ours(job: str) -> tuple[list[tuple[tuple[str, str], ...]], int]:
    """Our outcome for one job: the public label sets of kept targets, and the drop count.

    The input is built from our own config rather than the API's ``discoveredLabels``: 2.42's
    ``relabel.Process`` may modify its input in place (its doc says so), so the labels it
    reports as discovered can show the effect of labelkeep/labeldrop.
    """
    rules = relabel.parse(JOBS[job], validation_scheme="legacy")
    kept = []
    dropped = 0
    for addr, target_labels in TARGETS:
        lbls = {**target_labels, "__address__": addr, "job": job, **DEFAULTS}
        out = relabel.process(lbls, rules)
        if out is None:
            dropped += 1
            continue
        public = {k: v for k, v in out.items() if not k.startswith("__")}
        public.setdefault("instance", out.get("__address__", ""))
        kept.append(tuple(sorted(public.items())))
    return sorted(kept), dropped


def test_prometheus_adds_the_documented_labels(prometheus_targets: dict[str, Any]) -> None:
    t = next(
        t["discoveredLabels"]
        for t in prometheus_targets["activeTargets"]
        if t["scrapePool"] == "keep"
    )
    for name, value in DEFAULTS.items():
        assert t[name] == value
    assert t["job"] == "keep" and t["__address__"]


def test_every_target_agrees(prometheus_targets: dict[str, Any]) -> None:
    active = prometheus_targets["activeTargets"]
    dropped = prometheus_targets["droppedTargets"]
    assert len(active) + len(dropped) == len(JOBS) * len(TARGETS)
    total_dropped = 0
    mismatches = []
    for job in JOBS:
        ours, n_dropped = _ours(job)
        total_dropped += n_dropped
        theirs = sorted(
            tuple(sorted(t["labels"].items())) for t in active if t["scrapePool"] == job
        )
        if ours != theirs:
            mismatches.append(f"job {job}:\n  prometheus {theirs}\n  ours       {ours}")
    assert not mismatches, "\n".join(mismatches)
    assert total_dropped == len(dropped)
    # the rule sets exercise both outcomes
    assert active and dropped
