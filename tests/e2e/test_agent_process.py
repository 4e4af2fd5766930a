"""The agent process as users start it: HTTPS target with a token, a local OTLP receiver,
reloads (SIGHUP, POST, file change), a refused bad config, SIGTERM drain."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from agent.devtools.otlp_receiver import OTLPReceiver, Reply
from agent.devtools.target_server import Page, TargetServer

PAGE = b"""# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{code="200",path="/"} 10
http_requests_total{code="500",path="/"} 2
# TYPE go_goroutines gauge
go_goroutines 42
# TYPE temperature_celsius gauge
temperature_celsius{room="a"} 21.5
"""
TOKEN = "e2e-secret-token-value"
INGEST_KEY = "ingest-key-0123456789"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with TargetServer(tls_ca=ca, token=lambda: TOKEN) as srv, OTLPReceiver() as rx:
        srv.set("/metrics", PAGE)
        srv.set("/other", b"# TYPE other_value gauge\nother_value 7\n")
        yield {"srv": srv, "rx": rx, "ca_file": ca_file, "token_file": token_file}


def config(env: dict[str, Any], interval: str = "1s", extra_job: str = "") -> str:
    srv, rx = env["srv"], env["rx"]
    return f"""
global:
  scrape_interval: {interval}
  scrape_timeout: 1s
scrape_configs:
  - job_name: app
    scheme: https
    tls_config:
      ca_file: {env["ca_file"]}
    bearer_token_file: {env["token_file"]}
    static_configs:
      - targets: ['{srv.address}']
        labels: {{team: core}}
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: go_.*
        action: drop
      - target_label: cluster
        replacement: e2e
{extra_job}
scrape_agent:
  otlp:
    endpoint: {rx.http_endpoint}
    headers: {{signoz-ingestion-key: {INGEST_KEY}}}
  queue:
    drain_timeout: 10s
"""


OTHER_JOB = """
  - job_name: other
    scheme: https
    metrics_path: /other
    tls_config:
      ca_file: {ca_file}
    bearer_token_file: {token_file}
    static_configs:
      - targets: ['{address}']
"""


def other_job(env: dict[str, Any]) -> str:
    return OTHER_JOB.format(
        ca_file=env["ca_file"], token_file=env["token_file"], address=env["srv"].address
    )


def points(rx: OTLPReceiver, metric: str) -> list[Any]:
    return [p for p in rx.points() if p.metric == metric]


def test_scrapes_https_with_token_and_exports(
    env: dict[str, Any], start_agent: Callable[..., Any], until: Callable[..., bool]
) -> None:
    rx, srv = env["rx"], env["srv"]
    agent = start_agent(config(env))
    agent.wait_ready()
    assert until(lambda: len(points(rx, "http_requests_total")) >= 4), agent.log()
    reqs = points(rx, "http_requests_total")
    p = reqs[0]
    assert p.type == "sum" and p.metric_msg.sum.is_monotonic
    assert p.resource["service.name"] == "app"
    assert p.resource["service.instance.id"] == srv.address
    assert p.resource["url.scheme"] == "https"
    assert p.attributes["cluster"] == "e2e" and p.attributes["team"] == "core"
    assert {q.attributes["code"] for q in reqs} == {"200", "500"}
    assert {q.point.as_double for q in reqs if q.attributes["code"] == "500"} == {2.0}
    temps = points(rx, "temperature_celsius")
    assert temps and temps[0].type == "gauge" and temps[0].point.as_double == 21.5
    assert not points(rx, "go_goroutines"), "dropped by metric_relabel_configs"
    ups = points(rx, "up")
    assert ups and ups[0].point.as_double == 1.0
    # the token went in the Authorization header, and never into the logs
    assert srv.requests_for("/metrics")[-1].headers["authorization"] == f"Bearer {TOKEN}"
    targets = agent.targets()
    assert len(targets) == 1
    t = targets[0]
    assert t["health"] == "up" and t["scrapePool"] == "app" and t["lastError"] == ""
    assert t["scrapeUrl"] == f"https://{srv.address}/metrics"
    assert t["labels"] == {"instance": srv.address, "job": "app", "team": "core"}
    assert t["scrapeInterval"] == "1s" and t["lastScrape"] != "0001-01-01T00:00:00Z"
    m = agent.get("/metrics").text
    assert 'scrape_agent_scrapes_total{job="app"}' in m
    assert agent.metric("scrape_agent_exported_points_total") > 0
    assert agent.metric("scrape_agent_config_last_reload_successful") == 1.0
    assert "job=&quot;app&quot;" in agent.get("/targets").text
    assert rx.headers[-1]["signoz-ingestion-key"] == INGEST_KEY
    shown = agent.get("/config").text + agent.get("/api/v1/status/config").text
    assert "job_name: app" in shown and INGEST_KEY not in shown
    agent.stop()
    assert TOKEN not in agent.log() and INGEST_KEY not in agent.log()


def test_sighup_reload_adds_job_and_keeps_target_state(
    env: dict[str, Any], start_agent: Callable[..., Any], until: Callable[..., bool]
) -> None:
    rx = env["rx"]
    agent = start_agent(config(env), "--config.watch-interval=0")
    agent.wait_ready()
    assert until(lambda: len(points(rx, "http_requests_total")) >= 2), agent.log()
    before = points(rx, "http_requests_total")[0].point.start_time_unix_nano
    assert before > 0
    scrapes_before = agent.metric('scrape_agent_scrapes_total{job="app"}')
    agent.config.write_text(config(env, extra_job=other_job(env)))
    agent.signal(signal.SIGHUP)
    assert until(lambda: {t["scrapePool"] for t in agent.targets()} == {"app", "other"}), (
        agent.log()
    )
    assert until(lambda: len(points(rx, "other_value")) >= 1), agent.log()
    n = len(points(rx, "http_requests_total"))
    assert until(lambda: len(points(rx, "http_requests_total")) >= n + 2)
    # the app target kept its loop and its start-time state: same start time as before
    after = points(rx, "http_requests_total")[-1].point.start_time_unix_nano
    assert after == before
    assert agent.metric('scrape_agent_scrapes_total{job="app"}') >= scrapes_before
    assert "configuration reloaded" in agent.log()
    assert agent.metric('scrape_agent_config_reloads_total{result="success"}') == 2.0


def test_bad_config_on_reload_is_refused_and_old_keeps_running(
    env: dict[str, Any], start_agent: Callable[..., Any], until: Callable[..., bool]
) -> None:
    rx = env["rx"]
    agent = start_agent(config(env), "--config.watch-interval=0")
    agent.wait_ready()
    agent.config.write_text(config(env).replace("scrape_interval: 1s", "scrape_intervall: 1s", 1))
    resp = agent.post("/-/reload")
    assert resp.status_code == 500
    assert "scrape_intervall" in resp.text
    assert agent.metric("scrape_agent_config_last_reload_successful") == 0.0
    assert "new configuration refused" in agent.log()
    # still scraping and exporting with the old config
    n = len(points(rx, "http_requests_total"))
    assert until(lambda: len(points(rx, "http_requests_total")) >= n + 2), agent.log()
    assert agent.get("/readyz").status_code == 200
    # fixing the file and reloading over HTTP works
    agent.config.write_text(config(env, extra_job=other_job(env)))
    assert agent.post("/-/reload").status_code == 200
    assert agent.metric("scrape_agent_config_last_reload_successful") == 1.0
    assert until(lambda: len(agent.targets()) == 2)


def test_config_file_change_is_picked_up(
    env: dict[str, Any], start_agent: Callable[..., Any], until: Callable[..., bool]
) -> None:
    agent = start_agent(config(env), "--config.watch-interval=200ms")
    agent.wait_ready()
    # A ConfigMap update swaps a symlink: write a new file and rename it over the old one.
    new = agent.config.with_suffix(".new")
    new.write_text(config(env, extra_job=other_job(env)))
    new.replace(agent.config)
    assert until(lambda: len(agent.targets()) == 2), agent.log()
    assert "the configuration file changed" in agent.log()


def test_lifecycle_can_be_disabled(env: dict[str, Any], start_agent: Callable[..., Any]) -> None:
    agent = start_agent(config(env), "--no-web.enable-lifecycle", "--log.format", "json")
    agent.wait_ready()
    assert agent.post("/-/reload").status_code == 403
    assert agent.get("/-/reload").status_code == 405
    first = json.loads(agent.log().splitlines()[0])
    assert first["msg"] == "scrape-agent started" and first["level"] == "info"


def test_sigterm_drains_then_exits_zero(
    env: dict[str, Any], start_agent: Callable[..., Any], until: Callable[..., bool]
) -> None:
    rx = env["rx"]
    agent = start_agent(config(env, interval="1s"))
    agent.wait_ready()
    assert until(lambda: rx.requests_total >= 1), agent.log()
    # the backend stalls on the next request: what is scraped meanwhile waits in the queue
    rx.script(Reply(delay=2.5))
    assert until(lambda: (agent.metric("scrape_agent_export_queue_points") or 0) > 0, 10), (
        agent.log()
    )
    received = rx.points_total
    agent.signal(signal.SIGTERM)
    assert agent.wait(30) == 0, agent.log()
    assert rx.points_total > received, "queued points were delivered before exit"
    log = agent.log()
    assert "shutting down" in log and "scrape-agent stopped" in log
    assert "export queue not empty" not in log


def test_bad_initial_config_exits_1_with_a_clear_message(
    tmp_path: Path, start_agent: Callable[..., Any]
) -> None:
    agent = start_agent("scrape_configs:\n  - job_name: x\n    scrape_interval: fast\n")
    rc = agent.wait(20)
    out = agent.log()
    assert rc == 1
    assert "cannot load the configuration" in out and "scrape.yml" in out
    assert "Traceback" not in out


def test_target_down_and_up_are_logged_once(
    env: dict[str, Any], start_agent: Callable[..., Any], until: Callable[..., bool]
) -> None:
    srv = env["srv"]
    agent = start_agent(config(env))
    agent.wait_ready()
    assert until(lambda: agent.targets()[0]["health"] == "up"), agent.log()
    srv.set("/metrics", Page(b"oops\n", status=500))
    assert until(
        lambda: (agent.metric('scrape_agent_scrape_failures_total{job="app"}') or 0) >= 3
    ), agent.log()
    t = agent.targets()[0]
    assert t["health"] == "down" and "500" in t["lastError"]
    srv.set("/metrics", PAGE)
    assert until(lambda: agent.targets()[0]["health"] == "up"), agent.log()
    log = agent.log()
    down = [line for line in log.splitlines() if 'msg="target is down"' in line]
    assert len(down) == 1, log
    assert "job=app" in down[0] and "500" in down[0] and "level=warn" in down[0]
    assert log.count('msg="target is up"') == 1


def test_self_scrape_job(
    env: dict[str, Any], start_agent: Callable[..., Any], until: Callable[..., bool], port: int
) -> None:
    rx = env["rx"]
    self_job = f"""
  - job_name: scrape-agent
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
"""
    agent = start_agent(config(env, extra_job=self_job), port=port)
    agent.wait_ready()
    assert until(lambda: len(points(rx, "scrape_agent_scrapes_total")) >= 1), agent.log()
    p = points(rx, "scrape_agent_scrapes_total")[-1]
    assert p.resource["service.name"] == "scrape-agent" and p.type == "sum"
    want = {"app": "up", "scrape-agent": "up"}
    assert until(lambda: {t["scrapePool"]: t["health"] for t in agent.targets()} == want)


def test_listen_address_in_use_exits_1(
    env: dict[str, Any], start_agent: Callable[..., Any], port: int
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        agent = start_agent(config(env), port=port)
        assert agent.wait(20) == 1
    out = agent.log()
    assert "cannot listen" in out and f"127.0.0.1:{port}" in out and "Traceback" not in out


@pytest.mark.parametrize("storage", [False, True], ids=["memory", "disk-queue"])
def test_reload_with_a_new_otlp_endpoint_switches_exporters(
    env: dict[str, Any],
    start_agent: Callable[..., Any],
    until: Callable[..., bool],
    tmp_path: Path,
    storage: bool,
) -> None:
    rx = env["rx"]
    extra = [f"--storage.path={tmp_path / 'queue'}"] if storage else []
    agent = start_agent(config(env), "--config.watch-interval=0", *extra)
    agent.wait_ready()
    assert until(lambda: rx.points_total > 0), agent.log()
    with OTLPReceiver() as rx2:
        agent.config.write_text(config(env).replace(rx.http_endpoint, rx2.http_endpoint))
        assert agent.post("/-/reload").status_code == 200
        switched_ns = time.time_ns()

        def newest(r: OTLPReceiver) -> int:
            return max(
                (p.point.time_unix_nano for p in points(r, "http_requests_total")), default=0
            )

        # wait for two scrapes made after the switch to arrive at the new endpoint
        assert until(lambda: newest(rx2) > switched_ns + 1_000_000_000), agent.log()
        p = points(rx2, "http_requests_total")[-1]
        assert p.resource["service.name"] == "app" and p.attributes["cluster"] == "e2e"
        # nothing scraped after the switch went to the old endpoint
        assert newest(rx) < switched_ns
        assert "export settings changed" in agent.log()
