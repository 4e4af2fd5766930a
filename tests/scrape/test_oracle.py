"""Compare with Prometheus itself: Debian's prometheus 2.42 scrapes the same local target
(static config, same relabel rules) and its ingested series (``/federate``) and ``up`` /
``scrape_samples_*`` must equal what our scrape loop hands to the sink.

Skips (saying why) when ``/usr/bin/prometheus`` (or ``prometheus`` on PATH) is absent.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.devtools.target_server import TargetServer
from agent.model import Labels, TargetGroup
from agent.scrape.http import ScrapeClient
from agent.scrape.loop import JobStats, ScrapeLoop
from agent.scrape.parse import Parser
from agent.scrape.targets import build_targets

PAGE = Path(__file__).parents[2] / "fixtures" / "scrape" / "oracle.prom"
REPORT = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
}

METRIC_RELABEL = [
    {"source_labels": ["__name__"], "regex": "go_gc_.*", "action": "drop"},
    {
        "source_labels": ["__name__", "room"],
        "regex": "temp_celsius;a b",
        "target_label": "kind",
        "replacement": "office",
    },
    {"action": "labeldrop", "regex": "tmp_label"},
]


def prometheus_binary() -> str:
    path = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if path is None:
        pytest.skip(
            "Prometheus binary not installed (Debian package 'prometheus'); oracle comparison skipped"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def series_of(text: str) -> dict[Labels, float]:
    p = Parser()
    res = p.parse(text.encode(), "text")
    out: dict[Labels, float] = {}
    for series, value, _ts, _ex in res.samples:
        name, labels = p.series_labels(series)
        out[tuple(sorted([("__name__", name), *((k, v) for k, v in labels if v)]))] = value
    return out


def normalize_le(labels: Labels) -> Labels:
    """Prometheus 3 writes classic-histogram ``le`` / summary ``quantile`` values as floats
    ("1" -> "1.0"); 2.42 (the oracle) keeps them as exposed. Compare them as numbers."""
    return tuple((k, repr(float(v)) if k in ("le", "quantile") else v) for k, v in labels)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_matches_prometheus(tmp_path: Path, scrape_config: Any) -> None:
    binary = prometheus_binary()
    with TargetServer() as srv:
        srv.set("/metrics", PAGE.read_bytes())
        port = free_port()
        job = {
            "job_name": "oracle",
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "metric_relabel_configs": METRIC_RELABEL,
            "static_configs": [{"targets": [srv.address], "labels": {"team": "core"}}],
        }
        limited = {**job, "job_name": "limited", "sample_limit": 5}
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": [job, limited]}))
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            fed = f"{base}/federate?match[]=%7B__name__%3D~%22.%2B%22%7D"
            theirs: dict[Labels, float] = {}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    pytest.fail(f"prometheus exited with {proc.returncode}")
                try:
                    theirs = series_of(get(fed))
                except OSError:
                    theirs = {}
                # Wait for the second scrape (series_added settles, all series present).
                settled = {
                    dict(k)["job"]
                    for k, v in theirs.items()
                    if dict(k)["__name__"] == "scrape_series_added" and v == 0
                }
                if settled == {"oracle", "limited"}:
                    break
                time.sleep(0.2)
            else:
                pytest.fail("prometheus did not scrape the target within 20 s")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

        def two_scrapes(job_name: str, **extra: Any) -> Any:
            cfg = scrape_config(
                {
                    "job_name": job_name,
                    "scrape_interval": 1,
                    "scrape_timeout": 1,
                    "metric_relabel_configs": METRIC_RELABEL,
                    **extra,
                }
            )
            group = TargetGroup("0", ({"__address__": srv.address},), {"team": "core"})
            t = build_targets(group, cfg)[0].target
            assert t is not None
            loop = ScrapeLoop(t, cfg, ScrapeClient(cfg), lambda b: None, JobStats())

            async def go() -> Any:
                await loop.scrape_once()
                b = await loop.scrape_once()
                await loop.client.aclose()
                return b

            return asyncio.run(go())

        batch = two_scrapes("oracle")
        limited_batch = two_scrapes("limited", sample_limit=5)

    ours = {normalize_le(s.labels): s.value for s in batch.samples}
    theirs = {normalize_le(k): v for k, v in theirs.items()}
    ours_report = {s.labels: s.value for s in batch.report}
    # sample_limit breached: up=0, nothing ingested, same scrape_samples_* figures.
    limited = {k: v for k, v in theirs.items() if dict(k)["job"] == "limited"}
    assert {dict(k)["__name__"] for k in limited} == REPORT
    assert not limited_batch.samples
    for s in limited_batch.report:
        if dict(s.labels)["__name__"] != "scrape_duration_seconds":
            assert s.value == limited[s.labels], (s.labels, s.value, limited[s.labels])
    theirs = {k: v for k, v in theirs.items() if dict(k)["job"] == "oracle"}
    theirs_samples = {k: v for k, v in theirs.items() if dict(k)["__name__"] not in REPORT}
    theirs_report = {k: v for k, v in theirs.items() if dict(k)["__name__"] in REPORT}
    assert set(ours) == set(theirs_samples), set(ours) ^ set(theirs_samples)
    for k, v in ours.items():
        assert same(v, theirs_samples[k]), (k, v, theirs_samples[k])
    assert set(ours_report) == set(theirs_report)
    for k, v in ours_report.items():
        if dict(k)["__name__"] != "scrape_duration_seconds":
            assert v == theirs_report[k], (k, v, theirs_report[k])
