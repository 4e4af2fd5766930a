"""The agent as a real process, for end-to-end and reliability tests and benchmarks.

``AgentProcess`` runs ``python -m agent run`` as users start it and reads its pages and its
``/proc`` figures (RSS, peak RSS, CPU); ``free_port`` and ``wait_until`` are the small helpers
every such test needs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

CLK_TCK = os.sysconf("SC_CLK_TCK")


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


# --------------------------------------------------------------------------------- the agent


class AgentProcess:
    """``python -m agent run --config.file=... --web.listen-address=127.0.0.1:<port>`` as users
    start it; output goes to ``<config dir>/agent-<port>.log``."""

    def __init__(self, config: Path, *extra: str, port: int = 0) -> None:
        self.config = config
        self.extra = extra
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = config.parent / f"agent-{self.port}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent",
                "run",
                f"--config.file={self.config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *self.extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def restart(self) -> None:
        """Start again (same config, flags and port) after the process ended."""
        assert self.proc.poll() is not None
        self.proc = self._spawn()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=5)

    def post(self, path: str) -> httpx.Response:
        return httpx.post(self.base + path, timeout=15)

    def request(self, method: str, path: str) -> httpx.Response:
        return httpx.request(method, self.base + path, timeout=15)

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return self.get("/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(ready, timeout), f"agent not ready:\n{self.log()}"

    def targets(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/targets").json()["data"]["activeTargets"])

    def metric(self, name: str) -> float:
        """Sum of every series of ``name`` (or of the one series ``name{...}``), counters with
        or without ``_total``; 0 if absent."""
        total = 0.0
        names = (name,) if name.endswith(("_total", "}")) else (name, name + "_total")
        for line in self.get("/metrics").text.splitlines():
            if line.startswith("#"):
                continue
            if any(line.startswith(n + " ") or line.startswith(n + "{") for n in names):
                total += float(line.rsplit(" ", 1)[1])
            elif "{" in name and line.startswith(name):
                total += float(line.rsplit(" ", 1)[1])
        return total

    # /proc figures
    def rss_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmHWM") / 1024

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0
