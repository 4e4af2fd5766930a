"""The runner's export health watcher against a real exporter and OTLP receiver."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import agent.runner as runner_mod
from agent.config import AgentSection, OTLPConfig, QueueConfig
from agent.devtools.otlp_receiver import OTLPReceiver
from agent.export import Exporter
from agent.model import EncodedBatch
from agent.runner import Agent, RunOptions


async def _until(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def test_export_watcher_logs_failing_then_ok_and_stops_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runner_mod, "EXPORT_CHECK_INTERVAL", 0.02)
    caplog.set_level(logging.INFO, logger="agent")
    with OTLPReceiver() as rx:
        rx.down()
        section = AgentSection(
            otlp=OTLPConfig(endpoint=rx.http_endpoint),
            queue=QueueConfig(retry_initial=0.02, retry_max=0.05, drain_timeout=1.0),
        )

        async def main() -> None:
            a = Agent(RunOptions(str(tmp_path / "agent.yml"), "127.0.0.1:0", watch_interval=0))
            a.cfg = SimpleNamespace(agent=section)
            ex = Exporter(section)
            await ex.start()
            a._exporter = ex
            watch = asyncio.create_task(a._watch_exporter())
            try:
                ex.submit(EncodedBatch(b"", 1, time.time()))
                await _until(lambda: "exporting to the OTLP endpoint fails" in caplog.text)
                st = ex.stats()  # no await in between: the same moment
                assert ex.failures() == (st.consecutive_failures, st.last_error)
                assert st.consecutive_failures >= 1 and st.last_error
                line = next(r for r in caplog.records if "fails" in r.getMessage())
                assert getattr(line, "err", "")  # the exporter's last error at that moment
                rx.up()
                await _until(lambda: "exporting works again" in caplog.text)
                assert ex.failures() == (0, ex.stats().last_error)
                a._stop.set()
                await asyncio.wait_for(watch, 1.0)  # the stop event ends the wait at once
            finally:
                watch.cancel()
                await ex.stop()

        asyncio.run(asyncio.wait_for(main(), 30))
