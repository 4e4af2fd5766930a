"""Load: 200 local targets on one agent process. The suite runs ~3 intervals at 5 s with small
pages; ``bench/load_bench.py`` runs the 15 s interval for longer and prints the same figures.
Scrape timing is measured at the targets (time between two requests of one target)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack

import pytest
from reliability_helpers import AgentProcess, CountingPage, intervals, wait_until

from agent.devtools.otlp_receiver import OTLPReceiver
from agent.devtools.target_server import TargetServer

pytestmark = pytest.mark.timeout(120)

TARGETS = 200
SERVERS = 4
INTERVAL = 5.0


def load_config(servers: list[TargetServer], endpoint: str, interval: float) -> str:
    per = TARGETS // len(servers)
    entries = [
        f"      - targets: ['{srv.address}']\n"
        f"        labels: {{__metrics_path__: /t{i}, t: '{s}-{i}'}}"
        for s, srv in enumerate(servers)
        for i in range(per)
    ]
    targets = "\n".join(entries)
    return f"""
global:
  scrape_interval: {interval:g}s
  scrape_timeout: {min(interval, 10):g}s
scrape_configs:
  - job_name: load
    static_configs:
{targets}
scrape_agent:
  otlp: {{endpoint: {endpoint}}}
"""


def test_200_targets_keep_their_schedule(start_agent: Callable[..., AgentProcess]) -> None:
    with ExitStack() as stack:
        rx = stack.enter_context(OTLPReceiver(decode=False))
        servers = [stack.enter_context(TargetServer()) for _ in range(SERVERS)]
        pages = []
        for srv in servers:
            for i in range(TARGETS // SERVERS):
                p = CountingPage(extra_series=20)
                srv.set(f"/t{i}", p)
                pages.append(p)
        agent = start_agent(load_config(servers, rx.http_endpoint, INTERVAL))
        agent.wait_ready()
        assert wait_until(lambda: all(p.n >= 1 for p in pages), INTERVAL * 3), agent.log()
        cpu0, t0 = agent.cpu_seconds(), time.monotonic()
        assert wait_until(lambda: all(p.n >= 2 for p in pages), INTERVAL * 3, step=0.2)
        cpu = (agent.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        rss = agent.rss_mb()
        ups = len([t for t in agent.targets() if t["health"] == "up"])
        exported = agent.metric("scrape_agent_exported_points_total")
    devs = [abs(x - INTERVAL) for p in pages for x in intervals(p.times)]
    worst = max(devs)
    print(
        f"\n{TARGETS} targets x 22 series at {INTERVAL:g}s: {len(devs)} intervals measured, "
        f"deviation median {statistics.median(devs) * 1000:.1f} ms, max {worst * 1000:.0f} ms "
        f"({worst / INTERVAL:.1%} of the interval); agent CPU {cpu:.1%} of one core, "
        f"RSS {rss:.0f} MB; {ups} up; exported {exported:.0f} points"
    )
    assert ups == TARGETS
    assert len(devs) >= TARGETS
    assert worst < INTERVAL * 0.10
    assert exported > 0
