"""Fixtures of the reliability suite: the agent as a real process, a fault-injecting TCP proxy,
a streaming target. Helpers live in ``reliability_helpers.py`` (same directory)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reliability_helpers import AgentProcess  # noqa: E402


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    started: list[AgentProcess] = []

    def start(config_text: str, *extra: str, name: str = "scrape.yml") -> AgentProcess:
        cfg = tmp_path / name
        cfg.write_text(config_text)
        a = AgentProcess(cfg, *extra)
        started.append(a)
        return a

    yield start
    for a in started:
        a.stop()
