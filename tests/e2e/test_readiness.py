"""Readiness of the in-process agent: ready once loaded and synced; not ready when the
exporter fails hopelessly (thresholds lowered for the test)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent import runner
from agent.devtools.target_server import TargetServer
from agent.runner import Agent, RunOptions


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once closed


class InProcess:
    def __init__(self, config: Path) -> None:
        self.agent = Agent(RunOptions(str(config), "127.0.0.1:0", watch_interval=0))
        self.loop = asyncio.new_event_loop()
        self.rc: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.rc = self.loop.run_until_complete(self.agent.run())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.agent.request_stop)
        self.thread.join(20)
        self.loop.close()


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess]:
    monkeypatch.setattr(runner, "HOPELESS_FAILURES", 2)
    monkeypatch.setattr(runner, "HOPELESS_AGE", 0.5)
    with TargetServer() as srv:
        srv.set("/metrics", b"x 1\n")
        cfg = tmp_path / "c.yml"
        cfg.write_text(
            f"""
global: {{scrape_interval: 500ms, scrape_timeout: 500ms}}
scrape_configs:
  - job_name: t
    static_configs: [{{targets: ['{srv.address}']}}]
scrape_agent:
  otlp: {{endpoint: 'http://127.0.0.1:{_closed_port()}', timeout: 1s}}
  queue: {{retry_initial: 50ms, retry_max: 100ms, drain_timeout: 1s}}
"""
        )
        a = InProcess(cfg)
        yield a
        a.stop()


def test_not_ready_when_export_fails_hopelessly(agent: InProcess) -> None:
    a = agent.agent
    deadline = time.monotonic() + 20
    reasons = []
    while time.monotonic() < deadline:
        ok, reason = a.readiness()
        reasons.append((ok, reason))
        if not ok and "exporting has failed" in reason:
            break
        time.sleep(0.05)
    assert any(ok for ok, _ in reasons), "ready first (config loaded, discovery synced)"
    ok, reason = reasons[-1]
    assert not ok and "exporting has failed" in reason and "oldest queued data" in reason
    assert a.server is not None
    r = httpx.get(f"http://127.0.0.1:{a.server.port}/readyz", timeout=5)
    assert r.status_code == 503 and "exporting has failed" in r.text
    assert httpx.get(f"http://127.0.0.1:{a.server.port}/healthz", timeout=5).status_code == 200
