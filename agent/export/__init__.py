"""Durable OTLP exporter: queue encoded requests, send them with retries, survive restarts.

Public API::

    from agent.export import Exporter
    exp = Exporter(cfg.agent, storage_path="/var/lib/scrape-agent/queue")  # None: memory only
    await exp.start()              # replays what a previous run left queued on disk
    exp.submit(encoded_batch)      # never blocks: appends to the queue and wakes the sender
    exp.stats()                    # ExportStats snapshot
    await exp.stop()               # drains within queue.drain_timeout, the rest stays on disk

One sender task sends the oldest queued batches (several small ones coalesced into one request
up to ``queue.batch_max_points``/``batch_max_bytes``: concatenated requests are a valid request)
and removes them once the backend accepted them - or rejected them for good (4xx; a rejected
coalesced request is first retried batch by batch so only the bad batch is dropped). Retryable
failures back off exponentially from ``queue.retry_initial`` to ``queue.retry_max`` with full
jitter, or wait what ``Retry-After``/gRPC ``RetryInfo`` asked. Nothing is dropped for being old:
only the ``queue.max_bytes`` bound drops data (the oldest first). See ``agent.export.queue`` for
the on-disk format, fsync policy and the at-least-once guarantee (a crash can re-send the one
in-flight request), and ``agent.export.sender`` for endpoints and retry codes.

Config reload: a new Exporter started on the ``storage_path`` of a running one takes its disk
queue over (the old one stops sending at once, its in-flight request may be re-sent); the old
one's ``stop()`` then returns immediately. Without ``storage_path`` each keeps its own memory
queue and the old one drains it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import time
from dataclasses import dataclass

from agent.config._types import AgentSection
from agent.export.codec import to_gzip, to_raw
from agent.export.queue import DiskQueue, Entry, MemoryQueue, Queue, age_seconds
from agent.export.sender import GRPCSender, HTTPSender, SendResult, make_sender
from agent.model import CODEC_GZIP, EncodedBatch

__all__ = ["ExportStats", "Exporter"]

log = logging.getLogger("agent.export")

_SYNC_INTERVAL = 1.0
_CODEC_INLINE_MAX = 64 * 1024  # larger payloads are (de)compressed in a worker thread
# Disk queues in use in this process, by directory: (queue, owning Exporter).
_OPEN_QUEUES: dict[str, tuple[DiskQueue, Exporter]] = {}


@dataclass(slots=True)
class ExportStats:
    queued_bytes: int = 0  # payload bytes as queued: compressed for compressed batches
    queued_batches: int = 0
    queued_points: int = 0
    oldest_age_seconds: float = 0.0
    sent_points: int = 0
    sent_batches: int = 0  # queued batches delivered (several may share one request)
    sent_requests: int = 0
    sent_bytes: int = 0  # encoded uncompressed request bytes the backend accepted
    failed_batches: int = 0  # batches given up on because the backend rejected them (4xx)
    retries: int = 0  # failed attempts that were retried
    dropped_points: int = 0  # queue bound (max_bytes) reached: oldest dropped
    dropped_batches: int = 0
    rejected_points: int = 0  # permanent errors (4xx / non-retryable gRPC codes)
    partial_rejected_points: int = 0  # accepted requests whose partial_success rejected points
    corrupt_records: int = 0  # torn/corrupt records skipped when replaying the disk queue
    replayed_batches: int = 0  # batches found on disk at start
    last_error: str = ""
    last_success_unix: float = 0.0
    consecutive_failures: int = 0


class Exporter:
    def __init__(self, agent: AgentSection, storage_path: str | None = None):
        self.agent = agent
        self.otlp = agent.otlp
        self.qcfg = agent.queue
        self.storage_path = storage_path
        self._queue: Queue | None = None
        self._sender: HTTPSender | GRPCSender | None = None
        self._task: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._appended: asyncio.Event | None = None  # the disk queue has unsynced appends
        self._stopping = False
        self._st = ExportStats()
        self._pending: list[EncodedBatch] = []  # submitted before start()
        self._released = False  # our disk queue was handed over to a newer Exporter

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._task is not None:
            return
        if self.storage_path:
            key = os.path.realpath(self.storage_path)
            held = _OPEN_QUEUES.get(key)
            if held is not None and held[1] is not self:
                # A config reload: the previous exporter on this directory hands its queue
                # over (one reader/writer per directory; nothing is re-read or lost).
                q, previous = held
                await previous._release_queue()
                q.max_bytes = max(1, self.qcfg.max_bytes)
                q.append_room()
                self._queue = q
                log.info("export: took over the queue in %s (%d batches)", q.path, len(q))
            else:
                self._queue = await asyncio.to_thread(
                    DiskQueue, self.storage_path, self.qcfg.max_bytes
                )
            assert isinstance(self._queue, DiskQueue)
            _OPEN_QUEUES[key] = (self._queue, self)
        else:
            self._queue = MemoryQueue(self.qcfg.max_bytes)
        for b in self._pending:
            self._queue.append(b)
        self._pending.clear()
        self._sender = make_sender(self.otlp, self.qcfg.retry_initial, self.qcfg.retry_max)
        self._wake = asyncio.Event()
        self._wake.set()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="otlp-exporter")
        if isinstance(self._queue, DiskQueue):
            self._appended = asyncio.Event()
            self._appended.set()  # whatever start() appended (or a taken-over queue holds)
            self._sync_task = asyncio.create_task(self._sync_loop(), name="otlp-queue-sync")

    def submit(self, batch: EncodedBatch) -> None:
        """Queue one encoded request. Never blocks and never awaits."""
        if self._released:
            log.debug("export: submit to an exporter whose queue was taken over; ignored")
            return
        if self._queue is None:
            self._pending.append(batch)
            return
        self._queue.append(batch)
        if self._wake is not None:
            self._wake.set()
        if self._appended is not None:
            self._appended.set()

    async def _release_queue(self) -> None:
        """Stop using the disk queue: another Exporter takes it over."""
        self._released = True
        await self._cancel_tasks()

    async def _cancel_tasks(self) -> None:
        self._stopping = True
        for t in (self._task, self._sync_task):
            if t is not None:
                t.cancel()
        for t in (self._task, self._sync_task):
            if t is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        self._task = self._sync_task = None
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await self._sender.close()
            self._sender = None

    async def stop(self, drain_timeout: float | None = None) -> None:
        if self._released:
            await self._cancel_tasks()
            return
        if self._task is None:
            if self._pending:
                log.warning("export: stopped before start(); %d batches lost", len(self._pending))
                self._pending.clear()
            return
        timeout = self.qcfg.drain_timeout if drain_timeout is None else drain_timeout
        q = self._queue
        assert q is not None
        deadline = time.monotonic() + max(0.0, timeout)
        while len(q) and time.monotonic() < deadline and self._task and not self._task.done():
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        if self._released:  # taken over while draining
            await self._cancel_tasks()
            return
        await self._cancel_tasks()
        left = len(q)
        if left:
            if isinstance(q, DiskQueue):
                log.info(
                    "export: %d batches (%d points) not sent yet; kept in %s for the next start",
                    left,
                    q.queued_points,
                    q.path,
                )
            else:
                log.warning(
                    "export: %d batches (%d points) not sent before shutdown were lost "
                    "(no storage_path)",
                    left,
                    q.queued_points,
                )
        if isinstance(q, DiskQueue):
            key = os.path.realpath(q.path)
            if _OPEN_QUEUES.get(key, (None, None))[1] is self:
                del _OPEN_QUEUES[key]
        await asyncio.to_thread(q.close)

    # ------------------------------------------------------------------ stats

    def failures(self) -> tuple[int, str]:
        """``(consecutive_failures, last_error)`` as in :meth:`stats`, without building a
        snapshot of every counter: the runner's health watcher asks every 2 s."""
        return self._st.consecutive_failures, self._st.last_error

    def stats(self) -> ExportStats:
        s = self._st
        q = self._queue
        if q is not None:
            s.queued_bytes = q.queued_bytes
            s.queued_batches = len(q)
            s.queued_points = q.queued_points
            s.oldest_age_seconds = age_seconds(q.oldest_created())
            s.dropped_points = q.dropped_points
            s.dropped_batches = q.dropped_batches
            s.corrupt_records = q.corrupt_records
            s.replayed_batches = q.replayed_batches
        else:
            s.queued_batches = len(self._pending)
            s.queued_points = sum(b.points for b in self._pending)
            s.queued_bytes = sum(len(b.payload) for b in self._pending)
        return dataclasses.replace(s)

    # ------------------------------------------------------------------ sending

    def _backoff(self, attempt: int) -> float:
        q = self.qcfg
        cap = min(q.retry_max, q.retry_initial * (2 ** min(attempt, 30)))
        return random.uniform(cap / 2, cap)  # jitter, never below half the step

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def _run(self) -> None:
        q = self._queue
        sender = self._sender
        wake = self._wake
        assert q is not None and sender is not None and wake is not None
        attempt = 0
        solo = 0  # after a rejected coalesced request: send its batches one by one
        while not self._stopping:
            if solo > 0:
                entries = q.peek_many(1, 1)
            else:
                entries = q.peek_many(self.qcfg.batch_max_points, self.qcfg.batch_max_bytes)
            if not entries:
                wake.clear()
                await wake.wait()
                continue
            gz = isinstance(sender, HTTPSender) and sender.gzip
            try:
                payload = await self._payload(q, entries, gz)
            except (OSError, EOFError, ValueError) as e:
                # The record can't be read back (file removed?): drop it rather than spin.
                log.error("export queue: cannot read a queued batch: %s; dropped", e)
                if len(q) and q.entries[0].seq == entries[0].seq:
                    q.dropped_batches += 1
                    q.dropped_points += entries[0].points
                q.ack(entries[:1])
                continue
            try:
                if isinstance(sender, HTTPSender):
                    result = await sender.send(payload, compressed=gz)
                else:
                    result = await sender.send(payload)
            except Exception as e:  # a bug, not the backend: keep the data and keep going
                log.exception("export: unexpected error while sending")
                result = SendResult(False, True, error=f"{type(e).__name__}: {e}")
            if result.ok:
                self._st.sent_bytes += sum(e.raw_size for e in entries)
            if not result.ok and not result.retryable and len(entries) > 1:
                # One bad batch must not take the others down with it: isolate it.
                solo = len(entries)
                continue
            solo = max(0, solo - 1) if result.ok or not result.retryable else solo
            self._account(result, entries)
            if result.ok or not result.retryable:
                q.ack(entries)
                attempt = 0
                continue
            if result.retry_after is not None:  # the backend said; capped at 5 min
                delay = min(result.retry_after, max(self.qcfg.retry_max, 300.0))
            else:
                delay = self._backoff(attempt)
            attempt += 1
            await self._sleep(delay)

    async def _payload(self, q: Queue, entries: list[Entry], gz: bool) -> bytes:
        """The request body: gzip (``gz``; a concatenation of gzip members, compressed once
        before the queue) or the uncompressed protobuf. (De)compression of more than 64 KiB
        runs in a worker thread."""
        parts: list[bytes] = []
        for e in entries:
            data = await q.read(e)
            if gz == (e.codec == CODEC_GZIP):
                parts.append(data)
                continue
            conv = to_gzip if gz else to_raw
            if len(data) <= _CODEC_INLINE_MAX:
                parts.append(conv(data, e.codec))
            else:
                parts.append(await asyncio.to_thread(conv, data, e.codec))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _account(self, result: SendResult, entries: list[Entry]) -> None:
        s = self._st
        points = sum(e.points for e in entries)
        if result.ok:
            s.sent_points += points
            s.sent_batches += len(entries)
            s.sent_requests += 1
            s.last_success_unix = time.time()
            if s.consecutive_failures:
                log.info(
                    "export: backend reachable again after %d failures", s.consecutive_failures
                )
            s.consecutive_failures = 0
            if result.rejected_points:
                s.partial_rejected_points += result.rejected_points
                log.warning(
                    "export: backend accepted the request but rejected %d of %d points: %s",
                    result.rejected_points,
                    points,
                    result.partial_message or "(no message)",
                )
            return
        s.last_error = result.error
        s.consecutive_failures += 1
        if result.retryable:
            s.retries += 1
            if s.consecutive_failures == 1 or s.consecutive_failures % 10 == 0:
                log.warning(
                    "export failed (%d in a row), will retry: %s",
                    s.consecutive_failures,
                    result.error,
                )
            return
        s.failed_batches += len(entries)
        s.rejected_points += points
        log.error(
            "export: backend rejected %d points (%d batches) permanently, dropped: %s",
            points,
            len(entries),
            result.error,
        )

    async def _sync_loop(self) -> None:
        """fsync the disk queue at most ~``_SYNC_INTERVAL`` after an append (see the queue's
        durability policy). It sleeps while nothing is appended instead of waking every
        interval: an append sets ``_appended``, the loop waits one interval (appends in
        the meantime share the fsync), then syncs."""
        q = self._queue
        appended = self._appended
        assert q is not None and appended is not None
        while True:
            await appended.wait()
            appended.clear()
            await asyncio.sleep(_SYNC_INTERVAL)
            await q.sync()
