from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from agent.model import DroppedTarget, TargetStatus
from agent.selfmetrics import SelfStats, build_registry
from agent.server import AgentServer, format_duration, rfc3339


@dataclass
class View:
    """A stand-in for the running agent: fixed targets, a reload that succeeds or fails."""

    lifecycle_enabled: bool = True
    reload_error: str | None = None
    ready: tuple[bool, str] = (True, "")
    reloads: int = 0
    stats: SelfStats = field(default_factory=SelfStats)

    def __post_init__(self) -> None:
        self.registry = build_registry(self.stats, "0.0.test")

    def target_statuses(self) -> list[TargetStatus]:
        return [
            TargetStatus(
                scrape_pool="ksm",
                scrape_url="https://127.0.0.1:8443/metrics",
                discovered_labels={"__address__": "127.0.0.1:8443", "__meta_x": "y"},
                labels={"job": "ksm", "instance": "127.0.0.1:8443", "cluster": "demo"},
                health="up",
                last_scrape=1700000000.123456,
                last_scrape_duration=0.0421,
                scrape_interval=15.0,
                scrape_timeout=10.0,
            ),
            TargetStatus(
                scrape_pool="cadvisor",
                scrape_url="https://10.0.0.7:10250/metrics/cadvisor",
                discovered_labels={"__address__": "10.0.0.7:10250"},
                labels={"job": "cadvisor", "instance": "node-a"},
                health="down",
                last_error="server returned HTTP status 401 Unauthorized <script>",
                last_scrape=None,
                scrape_interval=90.0,
                scrape_timeout=0.5,
            ),
        ]

    def dropped_targets(self) -> list[DroppedTarget]:
        return [DroppedTarget("ksm", {"__address__": "10.1.1.1:8080", "job": "ksm"})]

    def dropped_target_counts(self) -> dict[str, int]:
        return {"ksm": 3}  # keep_dropped_targets kept only one of them

    def config_yaml(self) -> str:
        return "global:\n  scrape_interval: 15s\nscrape_configs:\n- job_name: ksm\n  authorization:\n    credentials: <secret>\n"

    def readiness(self) -> tuple[bool, str]:
        return self.ready

    async def reload(self) -> str | None:
        self.reloads += 1
        return self.reload_error


class Running:
    def __init__(self, view: View) -> None:
        self.view = view
        self.loop = asyncio.new_event_loop()
        self.server = AgentServer(view, "127.0.0.1", 0, hostname="node-a")
        self.loop.run_until_complete(self.server.start())
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.port}"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def srv() -> Iterator[Running]:
    r = Running(View())
    yield r
    r.close()


def get(r: Running, path: str, **kw: object) -> httpx.Response:
    return httpx.get(r.base + path, timeout=5, **kw)  # type: ignore[arg-type]


def test_targets_api_shape(srv: Running) -> None:
    resp = get(srv, "/api/v1/targets")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    doc = resp.json()
    assert doc["status"] == "success"
    active = doc["data"]["activeTargets"]
    assert [t["scrapePool"] for t in active] == ["cadvisor", "ksm"]
    ksm = active[1]
    assert set(ksm) == {
        "discoveredLabels",
        "labels",
        "scrapePool",
        "scrapeUrl",
        "globalUrl",
        "lastError",
        "lastScrape",
        "lastScrapeDuration",
        "health",
        "scrapeInterval",
        "scrapeTimeout",
    }
    assert ksm["scrapeUrl"] == "https://127.0.0.1:8443/metrics"
    assert ksm["globalUrl"] == "https://node-a:8443/metrics"
    assert ksm["lastScrape"] == "2023-11-14T22:13:20.123456Z"
    assert ksm["lastScrapeDuration"] == 0.0421
    assert ksm["scrapeInterval"] == "15s" and ksm["scrapeTimeout"] == "10s"
    assert ksm["labels"]["cluster"] == "demo" and ksm["discoveredLabels"]["__meta_x"] == "y"
    cad = active[0]
    assert cad["health"] == "down" and "401" in cad["lastError"]
    assert cad["lastScrape"] == "0001-01-01T00:00:00Z"
    assert cad["scrapeInterval"] == "1m30s" and cad["scrapeTimeout"] == "500ms"
    assert doc["data"]["droppedTargets"] == [
        {"discoveredLabels": {"__address__": "10.1.1.1:8080", "job": "ksm"}, "scrapePool": "ksm"}
    ]
    assert doc["data"]["droppedTargetCounts"] == {"ksm": 3}


def test_targets_api_filters(srv: Running) -> None:
    d = get(srv, "/api/v1/targets?state=active").json()["data"]
    assert len(d["activeTargets"]) == 2 and d["droppedTargets"] == []
    d = get(srv, "/api/v1/targets?state=dropped").json()["data"]
    assert d["activeTargets"] == [] and len(d["droppedTargets"]) == 1
    d = get(srv, "/api/v1/targets?scrapePool=cadvisor").json()["data"]
    assert [t["scrapePool"] for t in d["activeTargets"]] == ["cadvisor"] and d[
        "droppedTargets"
    ] == []
    bad = get(srv, "/api/v1/targets?state=sideways")
    assert bad.status_code == 400 and bad.json()["status"] == "error"


def test_targets_page_html(srv: Running) -> None:
    resp = get(srv, "/targets")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert "ksm (1/1 up, 3 dropped by relabelling)" in page
    assert "cadvisor (0/1 up)" in page
    assert "https://10.0.0.7:10250/metrics/cadvisor" in page
    assert "401 Unauthorized &lt;script&gt;" in page and "<script>" not in page
    assert "cluster=&quot;demo&quot;" in page
    assert "42.1ms" in page
    unhealthy = get(srv, "/targets?state=unhealthy").text
    assert "10.0.0.7" in unhealthy and "127.0.0.1:8443/metrics" not in unhealthy


def test_config_endpoints(srv: Running) -> None:
    doc = get(srv, "/api/v1/status/config").json()
    assert doc["status"] == "success" and "job_name: ksm" in doc["data"]["yaml"]
    txt = get(srv, "/config")
    assert txt.status_code == 200 and txt.text.startswith("global:")


def test_health_ready_metrics(srv: Running) -> None:
    assert get(srv, "/healthz").status_code == 200
    assert get(srv, "/-/healthy").status_code == 200
    assert get(srv, "/readyz").status_code == 200
    srv.view.ready = (False, "service discovery has not synced yet")
    r = get(srv, "/readyz")
    assert r.status_code == 503 and "not synced" in r.text
    m = get(srv, "/metrics")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    assert 'scrape_agent_build_info{version="0.0.test"} 1.0' in m.text
    assert "process_resident_memory_bytes" in m.text


def test_reload_endpoint(srv: Running) -> None:
    r = get(srv, "/-/reload")
    assert r.status_code == 405 and r.headers["allow"] == "POST, PUT"
    assert srv.view.reloads == 0
    r = httpx.post(srv.base + "/-/reload", timeout=5)
    assert r.status_code == 200 and srv.view.reloads == 1
    srv.view.reload_error = "config.yml:3: unknown field 'scrape_intervall'"
    r = httpx.post(srv.base + "/-/reload", timeout=5)
    assert r.status_code == 500 and "scrape_intervall" in r.text
    srv.view.lifecycle_enabled = False
    r = httpx.post(srv.base + "/-/reload", timeout=5)
    assert r.status_code == 403 and srv.view.reloads == 2


def test_not_found_redirect_and_garbage(srv: Running) -> None:
    assert get(srv, "/nope").status_code == 404
    r = get(srv, "/", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/targets"
    # A malformed request gets an answer (or a closed connection), and the server lives on.
    import socket

    with socket.create_connection(("127.0.0.1", srv.server.port), timeout=5) as s:
        s.sendall(b"NONSENSE\r\n\r\n")
        data = s.recv(1024)
    assert data.startswith(b"HTTP/1.1 400")
    assert get(srv, "/healthz").status_code == 200


def test_format_helpers() -> None:
    assert format_duration(0) == "0s"
    assert format_duration(60) == "1m"
    assert format_duration(3600 + 1.5) == "1h1s500ms"
    assert format_duration(86400 * 8) == "1w1d"
    assert rfc3339(1700000000.0) == "2023-11-14T22:13:20Z"
    assert json.dumps(rfc3339(None)) == '"0001-01-01T00:00:00Z"'
