"""Run the scrape loops of every job, reconciled by ``Target.key`` (Prometheus' scrape
manager + ``scrapePool``).

``sync(job, groups)`` takes the full current group list of a job (what discovery publishes)
and reconciles the running loops:

- a target that stays keeps its loop (parser cache, staleness state, schedule);
- a target that goes stops; after 2 intervals + 10% its series and ``up`` get stale markers;
- a new target starts at its own stable offset.

``apply_config(cfg)`` adds/removes jobs and, for a job whose config changed, restarts its
loops under the new config while carrying each target's staleness state over. ``target_limit``
breaches fail every target of the job with Prometheus' message.

Usage::

    mgr = ScrapeManager(sink)
    mgr.apply_config(config)
    mgr.sync("node", [TargetGroup("0", ({"__address__": "10.0.0.1:9100"},))])
    ...
    await mgr.stop()          # no stale markers on shutdown, as Prometheus
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence

from agent.config import Config, ScrapeConfig
from agent.model import DroppedTarget, TargetGroup, TargetStatus
from agent.scrape.http import ScrapeClient
from agent.scrape.loop import JobStats, ScrapeLoop, Sink
from agent.scrape.memory import limit_malloc_arenas
from agent.scrape.targets import Target, build_targets

log = logging.getLogger("agent.scrape")


class _Pool:
    """One job's loops (Prometheus' scrapePool)."""

    def __init__(self, cfg: ScrapeConfig, client: ScrapeClient) -> None:
        self.cfg = cfg
        self.client = client
        self.loops: dict[int, ScrapeLoop] = {}
        self.groups: list[TargetGroup] = []
        self.dropped: list[DroppedTarget] = []
        self.dropped_count = 0
        self.errors: list[str] = []
        self.stats = JobStats()


class ScrapeManager:
    def __init__(
        self,
        sink: Sink,
        *,
        offset_seed: int = 0,
        external_labels: Mapping[str, str] | None = None,
    ) -> None:
        self.sink = sink
        self.offset_seed = offset_seed
        self.external_labels: dict[str, str] = dict(external_labels or {})
        self.pools: dict[str, _Pool] = {}
        self._staleness: set[asyncio.Task[None]] = set()
        self._closing: list[ScrapeClient] = []
        limit_malloc_arenas()  # before the parse worker threads exist (agent/scrape/memory.py)

    # -- config ----------------------------------------------------------------------------
    def apply_config(self, cfg: Config | Sequence[ScrapeConfig]) -> None:
        """Start, stop or restart jobs for a (re)loaded config. Call on the event loop."""
        if isinstance(cfg, Config):
            jobs = list(cfg.scrape_configs)
            external = dict(cfg.global_config.external_labels)
        else:
            jobs = list(cfg)
            external = self.external_labels
        ext_changed = external != self.external_labels
        self.external_labels = external
        wanted = {sc.job_name: sc for sc in jobs}
        for name in [n for n in self.pools if n not in wanted]:
            pool = self.pools.pop(name)
            for lp in pool.loops.values():
                self._retire(lp, stale=True)
            self._close_client(pool.client)
        for name, sc in wanted.items():
            pool_or_none = self.pools.get(name)
            if pool_or_none is None:
                self.pools[name] = _Pool(sc, ScrapeClient(sc))
                continue
            pool = pool_or_none
            if pool.cfg == sc and not ext_changed:
                continue
            old_client = pool.client
            if pool.cfg.http_client != sc.http_client or _client_fields(pool.cfg) != _client_fields(
                sc
            ):
                pool.client = ScrapeClient(sc)
                self._close_client(old_client)
            pool.cfg = sc
            # Rebuild every loop under the new config, keeping staleness state per key.
            old_loops, pool.loops = pool.loops, {}
            self._reconcile(name, pool, old_loops, restart=True)

    # -- discovery input -------------------------------------------------------------------
    def sync(self, job: str, groups: Iterable[TargetGroup]) -> None:
        """Reconcile a job's loops with its full current list of target groups."""
        pool = self.pools.get(job)
        if pool is None:
            log.debug("targets for unknown job %r ignored", job)
            return
        new_groups = list(groups)
        if new_groups == pool.groups and pool.loops:
            return  # nothing changed: skip rebuilding every target
        pool.groups = new_groups
        old_loops, pool.loops = pool.loops, {}
        self._reconcile(job, pool, old_loops, restart=False)

    def _reconcile(
        self, job: str, pool: _Pool, old_loops: dict[int, ScrapeLoop], restart: bool
    ) -> None:
        cfg = pool.cfg
        targets: dict[int, Target] = {}
        pool.dropped = []
        pool.dropped_count = 0
        pool.errors = []
        for group in pool.groups:
            for res in build_targets(group, cfg):
                if res.target is not None:
                    targets.setdefault(res.target.key, res.target)
                elif res.error is not None:
                    pool.errors.append(res.error)
                    log.warning("job %s: creating target failed: %s", job, res.error)
                else:
                    keep = cfg.keep_dropped_targets
                    if keep == 0 or len(pool.dropped) < keep:
                        pool.dropped.append(DroppedTarget(job, dict(res.discovered_labels)))
                    pool.dropped_count += 1
        for key, lp in old_loops.items():
            if key not in targets:
                self._retire(lp, stale=True)
        forced = None
        if cfg.target_limit and len(targets) > cfg.target_limit:
            forced = (
                f"target_limit exceeded (number of targets: {len(targets)}, "
                f"limit: {cfg.target_limit})"
            )
        for key, t in targets.items():
            old = old_loops.get(key)
            if old is not None and not restart:
                lp = old
                lp.update_target(t)
            else:
                lp = ScrapeLoop(
                    t,
                    cfg,
                    pool.client,
                    self.sink,
                    pool.stats,
                    self.external_labels,
                    self.offset_seed,
                )
                if old is not None:
                    lp.inherit(old)
                    self._retire(old, stale=False)
                lp.start()
            lp.forced_error = forced
            pool.loops[key] = lp

    def _retire(self, lp: ScrapeLoop, stale: bool) -> None:
        async def retire() -> None:
            await lp.stop()
            if stale:
                await lp.end_of_run_staleness()

        task = asyncio.get_running_loop().create_task(retire(), name="retire scrape loop")
        self._staleness.add(task)
        task.add_done_callback(self._staleness.discard)

    def _close_client(self, client: ScrapeClient) -> None:
        task = asyncio.get_running_loop().create_task(client.aclose())
        self._staleness.add(task)
        task.add_done_callback(self._staleness.discard)

    async def stop(self) -> None:
        """Stop everything; no stale markers (as Prometheus on shutdown)."""
        loops = [lp for p in self.pools.values() for lp in p.loops.values()]
        pending = list(self._staleness)
        for t in pending:
            t.cancel()
        await asyncio.gather(*(lp.stop() for lp in loops), return_exceptions=True)
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*(p.client.aclose() for p in self.pools.values()))
        self.pools.clear()

    async def wait_retired(self) -> None:
        """Wait until stopped loops have sent their end-of-run stale markers (for tests)."""
        while self._staleness:
            await asyncio.gather(*list(self._staleness), return_exceptions=True)

    # -- status ----------------------------------------------------------------------------
    def loops(self, job: str | None = None) -> list[ScrapeLoop]:
        pools = [self.pools[job]] if job is not None else list(self.pools.values())
        return [lp for p in pools for lp in p.loops.values()]

    def target_statuses(self) -> list[TargetStatus]:
        out = []
        for name, pool in self.pools.items():
            for lp in pool.loops.values():
                t = lp.target
                out.append(
                    TargetStatus(
                        scrape_pool=name,
                        scrape_url=t.url,
                        discovered_labels=dict(t.discovered_labels),
                        labels=dict(t.labels),
                        health=lp.health,
                        last_error=lp.last_error,
                        last_scrape=lp.last_scrape,
                        last_scrape_duration=lp.last_scrape_duration,
                        scrape_interval=t.interval,
                        scrape_timeout=t.timeout,
                    )
                )
        return out

    def dropped_targets(self) -> list[DroppedTarget]:
        return [d for p in self.pools.values() for d in p.dropped]

    def dropped_target_counts(self) -> dict[str, int]:
        """Targets dropped by relabel_configs per job (all of them, not only those kept)."""
        return {name: p.dropped_count for name, p in self.pools.items()}

    def target_errors(self) -> dict[str, list[str]]:
        """Targets whose labels were unusable (no address, bad interval ...), per job."""
        return {name: list(p.errors) for name, p in self.pools.items() if p.errors}

    def stats(self) -> dict[str, JobStats]:
        return {name: p.stats for name, p in self.pools.items()}


def _client_fields(sc: ScrapeConfig) -> tuple[object, ...]:
    return (
        sc.scrape_protocols,
        sc.metric_name_validation_scheme,
        sc.enable_compression,
        sc.body_size_limit,
    )
