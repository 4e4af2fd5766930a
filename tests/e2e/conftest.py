"""Helpers for the end-to-end tests: the agent started as users start it, over real sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.devtools.agent_process import AgentProcess, free_port, wait_until


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
