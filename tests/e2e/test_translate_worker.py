"""The runner's translate worker: order, hand-off to the loop, bounded backlog."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from agent.config import AgentSection
from agent.model import EncodedBatch, Sample, ScrapeBatch, TargetInfo, labels_from_mapping
from agent.runner import TranslateWorker
from agent.translate import Translator


def _batch(job: str, n: int, value: float = 1.0, ts: int = 1_700_000_000_000) -> ScrapeBatch:
    samples = [
        Sample(
            labels_from_mapping({"__name__": "g", "job": job, "instance": "i", "k": str(i)}),
            value,
            ts,
        )
        for i in range(n)
    ]
    return ScrapeBatch(TargetInfo(job, "i", "http"), ts, samples, {})


def test_real_translator_results_reach_the_loop_in_order() -> None:
    async def main() -> list[EncodedBatch]:
        got: list[EncodedBatch] = []
        loop = asyncio.get_running_loop()
        w = TranslateWorker(Translator(AgentSection()), loop, got.extend)
        for i in range(5):
            w.put(_batch("a", 10, value=float(i)))
        assert await w.flush(10)
        await asyncio.sleep(0)
        assert w.pending == 0
        await w.stop(5)
        return got

    got = asyncio.run(main())
    assert sum(e.points for e in got) == 50
    assert all(e.payload for e in got)


class GatedTranslator:
    """Stand-in that holds every translate() until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.seen: list[int] = []

    def translate(
        self, batch: ScrapeBatch, finish: Callable[[EncodedBatch], EncodedBatch] | None = None
    ) -> list[EncodedBatch]:
        self.gate.wait(10)
        self.seen.append(len(batch.samples))
        enc = EncodedBatch(b"x", len(batch.samples), 0.0)
        return [enc if finish is None else finish(enc)]

    def forget(self, job: str, instance: str) -> None:
        pass


def test_backlog_is_bounded_and_counted() -> None:
    async def main() -> tuple[TranslateWorker, GatedTranslator, list[EncodedBatch]]:
        got: list[EncodedBatch] = []
        tr = GatedTranslator()
        w = TranslateWorker(tr, asyncio.get_running_loop(), got.extend, max_pending_samples=250)
        for _ in range(5):
            w.put(_batch("a", 100))  # 100 + 100 fit; the rest is dropped while the gate is shut
        assert w.pending == 2
        tr.gate.set()
        assert await w.flush(10)
        await asyncio.sleep(0)
        w.put(_batch("a", 100))  # room again
        assert await w.flush(10)
        await asyncio.sleep(0)
        await w.stop(5)
        return w, tr, got

    w, tr, got = asyncio.run(main())
    assert w.dropped_batches == 3 and w.dropped_samples == 300
    assert tr.seen == [100, 100, 100]
    assert len(got) == 3
