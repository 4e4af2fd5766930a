"""One scrape loop per target, as Prometheus' ``scrapeLoop``.

The loop waits for the target's stable offset (a hash of its key pinned to absolute time),
then scrapes every ``interval``: fetch (``http.ScrapeClient``) -> parse (one ``Parser`` per
target, its series cache kept across scrapes) -> ``SeriesProcessor`` (target labels,
metric relabelling, limits, staleness) -> one ``ScrapeBatch`` to the sink. A scrape never
overlaps the next one: a scrape that overruns skips the missed ticks. A failed scrape sends
``up`` = 0 and stale markers for everything the last good scrape sent.

Parsing a big page is CPU work; above ``THREAD_THRESHOLD`` bytes it runs in a worker thread
so the event loop (other targets' timers and fetches) keeps its timing. Measured on a 24 MB,
139k-sample kube-state-metrics page (2-core box): parsing on the event loop delayed another
target's 50 ms ticks by up to 1.2 s; in a thread, by at most ~0.2 s (long C calls on the whole
body still hold the GIL). Small pages stay on the loop: a thread hop costs more than they do.
Big pages are also processed with the cyclic GC paused (``gcpause``: ~20% of the CPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.config import ScrapeConfig
from agent.model import MetricMeta, ScrapeBatch, Series, TargetInfo
from agent.scrape import gcpause
from agent.scrape.http import ScrapeClient, ScrapeError, ScrapeResponse
from agent.scrape.parse import Parser as _ExpositionParser
from agent.scrape.parse import detect_format
from agent.scrape.samples import Outcome, Parser, SeriesProcessor
from agent.scrape.targets import Target

log = logging.getLogger("agent.scrape")

Sink = Callable[[ScrapeBatch], None]
THREAD_THRESHOLD = 256 * 1024  # bytes of body above which parse+process run in a thread


def new_parser() -> Parser:
    return _ExpositionParser()


@dataclass
class JobStats:
    """Per-job counters for self-metrics (monotonic)."""

    scrapes: int = 0
    failures: int = 0
    samples_scraped: int = 0
    dropped_by_relabel: int = 0
    dropped_by_limits: int = 0
    duplicates: int = 0
    stale_markers: int = 0


class ScrapeLoop:
    def __init__(
        self,
        target: Target,
        cfg: ScrapeConfig,
        client: ScrapeClient,
        sink: Sink,
        stats: JobStats,
        external_labels: Mapping[str, str] | None = None,
        offset_seed: int = 0,
    ) -> None:
        self.target = target
        self.cfg = cfg
        self.client = client
        self.sink = sink
        self.stats = stats
        self.offset_seed = offset_seed
        self.processor = SeriesProcessor(target, cfg, external_labels)
        self.parser: Parser | None = None
        self.metadata: Mapping[str, MetricMeta] = {}
        self.forced_error: str | None = None
        self.health = "unknown"
        self.last_error = ""
        self.last_scrape: float | None = None
        self.last_scrape_duration = 0.0
        self.next_scrape_mono: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.info = TargetInfo(
            job=target.job,
            instance=target.instance,
            scheme=target.scheme,
            discovered_labels=target.discovered_labels,
        )

    # -- lifecycle -------------------------------------------------------------------------
    def inherit(self, old: ScrapeLoop) -> None:
        """Take over an old loop's state for the same target (config reload)."""
        self.processor.inherit(old.processor)
        self.parser = old.parser
        self.metadata = old.metadata
        self.health, self.last_error = old.health, old.last_error
        self.last_scrape, self.last_scrape_duration = old.last_scrape, old.last_scrape_duration

    def update_target(self, target: Target) -> None:
        """Same target (same key, so same labels and URL), newer discovered labels."""
        if target.discovered_labels == self.target.discovered_labels:
            return
        self.target = target
        self.processor.target = target
        self.info = TargetInfo(
            job=target.job,
            instance=target.instance,
            scheme=target.scheme,
            discovered_labels=target.discovered_labels,
        )

    def start(self) -> None:
        self.client.acquire(self.target.url)
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"scrape {self.target.job} {self.target.url}"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            await self.client.release(self.target.url)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.target.interval
        await asyncio.sleep(self.target.offset(interval, self.offset_seed))
        next_at = loop.time()
        while True:
            self.next_scrape_mono = next_at + interval
            try:
                await self.scrape_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad scrape kill the loop
                log.exception("scrape of %s failed unexpectedly", self.target.url)
            next_at += interval
            now = loop.time()
            if next_at <= now:  # overran: skip missed ticks, keep the phase
                missed = int((now - next_at) // interval) + 1
                next_at += missed * interval
            self.next_scrape_mono = next_at
            await asyncio.sleep(next_at - now)

    # -- one scrape ------------------------------------------------------------------------
    async def scrape_once(self) -> ScrapeBatch:
        """Scrape now, hand the batch to the sink and return it (never two at once)."""
        async with self._lock:
            return await self._scrape()

    async def _scrape(self) -> ScrapeBatch:
        start = time.time()
        t0 = time.perf_counter()
        ts_ms = int(start * 1000)
        outcome: Outcome | None = None
        error: str | None = self.forced_error
        stale: list[Series] = []
        if error is None:
            try:
                resp = await self.client.fetch(self.target.url, self.target.timeout, lazy=True)
                if _big(resp):
                    work = asyncio.ensure_future(asyncio.to_thread(self._process, resp, ts_ms))
                    del resp  # the worker holds the only reference: freed once parsed
                    try:
                        outcome = await asyncio.shield(work)
                    except asyncio.CancelledError:
                        # Stopped mid-parse: let the worker finish with this loop's state
                        # before anything (end-of-run staleness) touches it.
                        with contextlib.suppress(BaseException):
                            await work
                        raise
                    del work  # the task holds the outcome as its result
                else:
                    outcome = self._process(resp, ts_ms)
                    del resp
                error = outcome.error
            except ScrapeError as exc:
                error = str(exc)
            except ValueError as exc:  # the parser's ParseError
                error = _parse_error_text(exc)
        duration = time.perf_counter() - t0
        st = self.stats
        st.scrapes += 1
        if outcome is not None:
            st.samples_scraped += outcome.scraped
            st.dropped_by_relabel += outcome.dropped_by_relabel
            st.duplicates += outcome.duplicates
        if error is not None:
            st.failures += 1
            if outcome is not None:
                st.dropped_by_limits += outcome.post_relabel
                stale = outcome.stale
            else:
                stale = self.processor.fail(ts_ms)
            if error != self.last_error:  # once per new error, not every interval
                # The up -> down transition is logged once by the runner ("target is down",
                # with the error); here only a change of error while the target stays down.
                log.log(
                    logging.WARNING if self.last_error else logging.DEBUG,
                    "Failed to scrape Prometheus endpoint: job=%s target=%s: %s",
                    self.target.job,
                    self.target.url,
                    error,
                )
            self.health, self.last_error = "down", error
        else:
            assert outcome is not None
            stale = outcome.stale
            if self.health == "down":
                log.debug("scrape of %s (job %s) recovered", self.target.url, self.target.job)
            self.health, self.last_error = "up", ""
        st.stale_markers += len(stale)
        self.last_scrape, self.last_scrape_duration = start, duration
        report = self.processor.report(ts_ms, error is None, duration, outcome)
        if error is None and outcome is not None:
            batch = ScrapeBatch(
                self.info,
                ts_ms,
                None,
                self.metadata,
                report,
                series=outcome.series,
                values=outcome.values,
                timestamps=outcome.timestamps,
                exemplars=outcome.exemplars,
                stale=stale,
            )
        else:
            batch = ScrapeBatch(self.info, ts_ms, None, self.metadata, report, stale=stale)
        self._emit(batch)
        return batch

    def _process(self, resp: ScrapeResponse, ts_ms: int) -> Outcome:
        if _big(resp):
            with gcpause.paused():  # see agent/scrape/gcpause.py
                return self._process_now(resp, ts_ms)
        return self._process_now(resp, ts_ms)

    def _process_now(self, resp: ScrapeResponse, ts_ms: int) -> Outcome:
        if self.parser is None:
            self.parser = new_parser()
        parser = self.parser
        # Prometheus 3: a blank/unknown Content-Type fails unless fallback_scrape_protocol is set.
        fmt = detect_format(resp.content_type, self.cfg.fallback_scrape_protocol)
        # a gzip body is inflated piece by piece as the parser goes (ScrapeResponse.pieces)
        result: Any = parser.parse(resp.pieces() if resp.gzipped else resp.body, fmt)
        # The response object may outlive this call in a reference cycle of the event loop's
        # machinery (until the collector finds it): drop the body now.
        resp.body = b""
        outcome = self.processor.process(parser, result, ts_ms)
        parser.sweep()
        self.metadata = result.metadata
        return outcome

    def _emit(self, batch: ScrapeBatch) -> None:
        try:
            self.sink(batch)
        except Exception:
            log.exception("sink rejected the batch of %s", self.target.url)

    # -- end of run ------------------------------------------------------------------------
    async def end_of_run_staleness(self) -> None:
        """After the target is gone: wait 2 intervals + 10% (it may come back under the same
        series), then send stale markers for its series and report (Prometheus'
        ``endOfRunStaleness``). Cancel it to skip the markers (shutdown)."""
        if self.last_scrape is None:
            return
        loop = asyncio.get_running_loop()
        interval = self.target.interval
        next_tick = self.next_scrape_mono or loop.time()
        await asyncio.sleep(max(0.0, next_tick - loop.time()))
        stale_ms = int(time.time() * 1000)
        await asyncio.sleep(interval + interval / 10)
        stale = self.processor.fail(stale_ms)
        self.stats.stale_markers += len(stale)
        report = self.processor.stale_report(stale_ms)
        self._emit(ScrapeBatch(self.info, stale_ms, None, self.metadata, report, stale=stale))


def _big(resp: ScrapeResponse) -> bool:
    # gzip pages inflate ~5-8x: judge by the inflated size's lower bound
    return len(resp.body) * (4 if resp.gzipped else 1) > THREAD_THRESHOLD


def _parse_error_text(exc: ValueError) -> str:
    lineno = getattr(exc, "lineno", None)
    text = str(exc)
    if lineno and f"line {lineno}" not in text:
        return f"{text} (line {lineno})"
    return text
