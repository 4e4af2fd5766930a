"""Kubernetes API server gone for a while, its watch history expired (410 Gone), then back:
the agent process keeps scraping the targets it had, resyncs to the new state after, and never
runs two loops for one target. (The discoverer alone is covered by tests/k8s/
test_discovery_e2e.py: watch expiry, dropped connections, restarts; this is the whole agent.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from reliability_helpers import AgentProcess, CountingPage, wait_until

from agent.devtools.k8s_apiserver import FakeAPIServer
from agent.devtools.otlp_receiver import OTLPReceiver
from agent.devtools.target_server import TargetServer

pytestmark = pytest.mark.timeout(120)


def pod(name: str, port: int) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
        "spec": {
            "nodeName": "node-a",
            "containers": [{"name": "app", "ports": [{"name": "metrics", "containerPort": port}]}],
        },
        "status": {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


@pytest.fixture
def env() -> Iterator[dict[str, Any]]:
    with (
        FakeAPIServer(bookmark_interval=0.5) as api,
        OTLPReceiver(decode=False) as rx,
        TargetServer() as a,
        TargetServer() as b,
        TargetServer() as c,
    ):
        pages = {}
        for name, srv in (("a", a), ("b", b), ("c", c)):
            pages[name] = CountingPage()
            srv.set("/metrics", pages[name])
        api.apply(pod("a", a.port))
        api.apply(pod("b", b.port))
        yield {"api": api, "rx": rx, "srv": {"a": a, "b": b, "c": c}, "pages": pages}


def test_api_server_outage_watch_expired_then_back(
    env: dict[str, Any], start_agent: Callable[..., AgentProcess]
) -> None:
    api, pages, srv = env["api"], env["pages"], env["srv"]
    agent = start_agent(f"""
global: {{scrape_interval: 500ms, scrape_timeout: 400ms}}
scrape_configs:
  - job_name: pods
    kubernetes_sd_configs: [{{role: pod, api_server: '{api.url}'}}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
scrape_agent:
  otlp: {{endpoint: {env["rx"].http_endpoint}}}
""")
    agent.wait_ready()

    def pods_scraped() -> set[str]:
        return {t["labels"]["pod"] for t in agent.targets() if t["health"] == "up"}

    assert wait_until(lambda: pods_scraped() == {"a", "b"}, 20), agent.log()
    api.stop()
    t_down = time.monotonic()
    n_a, n_b = pages["a"].n, pages["b"].n
    # while the API server is away the cluster changes: b deleted, c created
    api.delete("Pod", "b", "shop")
    api.apply(pod("c", srv["c"].port))
    api.expire()  # the agent's resourceVersion is gone: its next watch gets 410
    time.sleep(4)
    during = {t["labels"]["pod"] for t in agent.targets()}
    scraped_during = (pages["a"].n - n_a, pages["b"].n - n_b)
    api.start()
    t_up = time.monotonic()
    assert wait_until(lambda: pods_scraped() == {"a", "c"}, 30), agent.log()
    resync = time.monotonic() - t_up
    b_at_resync = pages["b"].n
    # no duplicate loops: one target, one scrape per interval
    n0, t0 = pages["a"].n, time.monotonic()
    time.sleep(2)
    rate_a = (pages["a"].n - n0) / (time.monotonic() - t0)
    ts = agent.targets()
    urls = [t["scrapeUrl"] for t in ts]
    b_after = pages["b"].n - b_at_resync
    log = agent.log()
    print(
        f"\nAPI server down {t_up - t_down:.1f}s (watch history expired meanwhile): targets kept "
        f"{sorted(during)}, scrapes of a/b meanwhile {scraped_during}; resynced "
        f"{resync:.1f}s after it came back; a scraped at {rate_a:.2f}/s after (interval 0.5 s "
        f"= 2/s); b scraped {b_after} times after resync; active targets {len(ts)}"
    )
    assert during == {"a", "b"}
    assert min(scraped_during) >= 4
    assert len(urls) == len(set(urls)) == 2
    assert rate_a < 2 * 1.5, "more than one loop scrapes the same target"
    assert b_after <= 1
    assert "Traceback" not in log


def test_departed_target_stale_markers_are_exported(
    env: dict[str, Any], start_agent: Callable[..., AgentProcess]
) -> None:
    """Regression: SelfStats.observe_batch used to raise on the NaN stale report, so the
    markers never left the agent (fixed in agent/runner.py / agent/selfmetrics.py)."""
    api, srv = env["api"], env["srv"]
    rx = OTLPReceiver()
    try:
        agent = start_agent(f"""
global: {{scrape_interval: 500ms, scrape_timeout: 400ms}}
scrape_configs:
  - job_name: pods
    kubernetes_sd_configs: [{{role: pod, api_server: '{api.url}'}}]
scrape_agent:
  otlp: {{endpoint: {rx.http_endpoint}}}
""")
        agent.wait_ready()
        b = srv["b"].address
        assert wait_until(
            lambda: any(p.resource.get("service.instance.id") == b for p in rx.points()), 15
        )
        api.delete("Pod", "b", "shop")
        # stale markers go out 2 intervals + 10% after the target left
        wait_until(lambda: agent.metric("scrape_agent_stale_markers") > 0, 10)
        time.sleep(1.0)
        stale = [
            p.metric
            for p in rx.points()
            if p.resource.get("service.instance.id") == b and p.point.flags & 1
        ]
        print(f"\nstale markers of the departed pod received: {sorted(set(stale))}")
        assert "up" in stale and "rel_scrapes_total" in stale
    finally:
        rx.stop()
