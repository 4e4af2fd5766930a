"""Hostile targets next to healthy ones, on one agent process: a target that hangs, trickles
bytes, resets the connection, answers 500, streams 10 million series (stopped by
``body_size_limit``; and by ``sample_limit`` + the timeout). Each bad target fails within its
timeout/limit with a clear ``lastError`` on ``/api/v1/targets``; the healthy targets keep
their schedule (measured at the target); the agent's RSS stays bounded (``/proc``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from reliability_helpers import AgentProcess, CountingPage, StreamServer, intervals, wait_until

from agent.devtools.otlp_receiver import OTLPReceiver
from agent.devtools.target_server import Page, TargetServer

pytestmark = pytest.mark.timeout(120)

HUGE = 10_000_000


@pytest.fixture
def env() -> Iterator[dict[str, Any]]:
    with (
        TargetServer() as srv,
        OTLPReceiver(decode=False) as rx,
        StreamServer(HUGE) as huge_body,
    ):
        good = {i: CountingPage(extra_series=50) for i in range(3)}
        for i, p in good.items():
            srv.set(f"/good{i}", p)
        srv.set("/hang", Page(b"x 1\n", delay=30))
        srv.set("/trickle", Page(b"x 1\n" * 2000, trickle=0.1, chunk_size=64, gzip=False))
        srv.set("/reset", Page(b"x 1\n", reset=True))
        srv.set("/err500", Page(b"internal error\n", status=500))
        yield {
            "srv": srv,
            "rx": rx,
            "good": good,
            "huge_body": huge_body,
        }


def config(env: dict[str, Any]) -> str:
    srv = env["srv"]
    good = "\n".join(
        f"      - targets: ['{srv.address}']\n        labels: {{__metrics_path__: /good{i}, g: '{i}'}}"
        for i in range(3)
    )

    def bad(name: str) -> str:
        return f"""
  - job_name: {name}
    metrics_path: /{name}
    static_configs: [{{targets: ['{srv.address}']}}]"""

    return f"""
global:
  scrape_interval: 1s
  scrape_timeout: 800ms
scrape_configs:
  - job_name: good
    static_configs:
{good}
{bad("hang")}
{bad("trickle")}
{bad("reset")}
{bad("err500")}
  - job_name: huge_body
    scrape_interval: 2s
    scrape_timeout: 2s
    body_size_limit: 10MB
    static_configs: [{{targets: ['{env["huge_body"].address}']}}]
scrape_agent:
  otlp: {{endpoint: {env["rx"].http_endpoint}}}
"""


def test_bad_targets_fail_clearly_good_ones_keep_schedule_rss_bounded(
    env: dict[str, Any], start_agent: Callable[..., AgentProcess]
) -> None:
    agent = start_agent(config(env))
    agent.wait_ready()
    rss_idle = agent.rss_mb()
    bad_jobs = {"hang", "trickle", "reset", "err500", "huge_body"}

    def all_failed_twice() -> bool:
        ts = agent.targets()
        return all(t["health"] == "down" for t in ts if t["scrapePool"] in bad_jobs) and all(
            agent.metric(f'scrape_agent_scrape_failures_total{{job="{j}"}}') >= 2 for j in bad_jobs
        )

    rss_samples = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and not all_failed_twice():
        rss_samples.append(agent.rss_mb())
        time.sleep(0.2)
    # a few more seconds of steady state, sampling RSS
    for _ in range(15):
        rss_samples.append(agent.rss_mb())
        time.sleep(0.2)
    targets = {t["scrapePool"]: t for t in agent.targets() if t["scrapePool"] != "good"}
    good = [t for t in agent.targets() if t["scrapePool"] == "good"]
    peak = agent.peak_rss_mb()
    print(
        f"\nRSS idle {rss_idle:.1f} MB, max sampled {max(rss_samples):.1f} MB, peak {peak:.1f} MB"
    )
    hb = env["huge_body"]
    per_scrape = hb.sent_bytes / max(1, hb.requests)
    print(
        f"huge_body: {HUGE} series streamed; the target got to send {per_scrape / 1e6:.1f} MB "
        f"per scrape (limit 10 MB + socket buffers) over {hb.requests} scrapes"
    )
    for job in sorted(targets):
        t = targets[job]
        print(
            f"{job:13s} health={t['health']} duration={t['lastScrapeDuration']:.2f}s "
            f"lastError={t['lastError']!r}"
        )
    worst = 0.0
    for i, page in env["good"].items():
        iv = intervals(page.times)
        dev = max(abs(x - 1.0) for x in iv)
        worst = max(worst, dev)
        print(f"good{i}: {len(page.times)} scrapes, intervals {min(iv):.3f}..{max(iv):.3f}s")
    print(f"worst deviation of a healthy target from its 1 s interval: {worst * 1000:.0f} ms")

    assert all_failed_twice(), agent.log()
    assert "context deadline exceeded" in targets["hang"]["lastError"]
    assert "context deadline exceeded" in targets["trickle"]["lastError"]
    assert targets["reset"]["lastError"]
    assert "500" in targets["err500"]["lastError"]
    assert "body size limit" in targets["huge_body"]["lastError"]
    for job in ("hang", "trickle"):
        assert targets[job]["lastScrapeDuration"] < 0.8 + 0.5
    assert all(t["health"] == "up" for t in good)
    assert worst < 0.3, "a healthy target lost its schedule"
    assert per_scrape < 30e6
    assert max(rss_samples) - rss_idle < 150
    assert "Traceback" not in agent.log()


@pytest.mark.xfail(
    strict=True,
    reason="sample_limit does not stop reading: without body_size_limit a 10M-series body is "
    "read until scrape_timeout (25-250 MB per scrape measured, RSS +30-285 MB) before "
    "the limit is checked (agent/scrape/http.py:ScrapeClient._read_limited + loop.ScrapeLoop._scrape)",
)
def test_sample_limit_alone_stops_a_10m_series_stream(
    start_agent: Callable[..., AgentProcess],
) -> None:
    with StreamServer(HUGE) as huge, OTLPReceiver(decode=False) as rx:
        agent = start_agent(f"""
scrape_configs:
  - job_name: huge_samples
    scrape_interval: 2s
    scrape_timeout: 2s
    sample_limit: 1000
    static_configs: [{{targets: ['{huge.address}']}}]
scrape_agent:
  otlp: {{endpoint: {rx.http_endpoint}}}
""")
        agent.wait_ready()
        rss_idle = agent.rss_mb()
        assert wait_until(lambda: huge.requests >= 1 and agent.targets()[0]["health"] == "down", 15)
        t = agent.targets()[0]
        grew = agent.peak_rss_mb() - rss_idle
        print(
            f"\nsample_limit 1000 alone: agent read {huge.sent_bytes / 1e6:.0f} MB of a {HUGE}-series "
            f"body in {t['lastScrapeDuration']:.1f}s; peak RSS +{grew:.0f} MB; "
            f"lastError={t['lastError']!r}"
        )
        # 1000 samples are ~30 KB of this body; allow 60 times that
        assert huge.sent_bytes < 2e6, "the agent kept reading far past sample_limit"
