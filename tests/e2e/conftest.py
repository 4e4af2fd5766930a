"""Helpers for the end-to-end tests: the agent started as users start it, over real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(pred: Callable[[], bool], timeout: float = 15.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


class AgentProcess:
    """``python -m agent run --config.file=... --web.listen-address=127.0.0.1:<free>``."""

    def __init__(self, config: Path, *extra: str, port: int = 0) -> None:
        self.config = config
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = config.parent / f"agent-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent",
                "run",
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=5)

    def post(self, path: str) -> httpx.Response:
        return httpx.post(self.base + path, timeout=15)

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return self.get("/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(ready, timeout), f"agent not ready:\n{self.log()}"

    def targets(self) -> list[dict[str, object]]:
        return list(self.get("/api/v1/targets").json()["data"]["activeTargets"])

    def metric(self, name: str) -> float | None:
        for line in self.get("/metrics").text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    started: list[AgentProcess] = []

    def start(
        config_text: str, *extra: str, name: str = "scrape.yml", port: int = 0
    ) -> AgentProcess:
        cfg = tmp_path / name
        cfg.write_text(config_text)
        a = AgentProcess(cfg, *extra, port=port)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()


@pytest.fixture
def port() -> int:
    """A free port on 127.0.0.1 (for a config that must name the agent's own address)."""
    return free_port()


@pytest.fixture
def until() -> Callable[..., bool]:
    """``until(pred, timeout=15)``: poll ``pred`` until true; the last result."""
    return wait_until
