"""Run every job's discoverers and publish ``{job: [TargetGroup]}`` (Prometheus'
``discovery.Manager``).

Each (job, provider) pair - ``static/0``, ``file/<i>``, ``kubernetes/<i>`` - runs one
discoverer. Groups are merged per (job, provider, source); a group with no targets removes
its source. Updates are published to ``callback`` with the *full* group list of every job of
the config: the first time as soon as anything arrives, then at most once per ``debounce``
seconds. ``synced`` turns true once every discoverer has sent its first set.
``apply_config`` keeps running the discoverers whose config is unchanged across reloads.

Kubernetes discovery is imported only when a job uses ``kubernetes_sd_configs``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent.config import Config, ScrapeConfig
from agent.discovery import Discoverer
from agent.discovery.file import FileDiscoverer
from agent.discovery.static import StaticDiscoverer
from agent.model import TargetGroup

log = logging.getLogger("agent.discovery")

Publish = Callable[[dict[str, list[TargetGroup]]], None]


@dataclass
class _Provider:
    job: str
    name: str
    config: object
    discoverer: Discoverer
    task: asyncio.Task[None] | None = None
    synced: bool = False
    groups: dict[str, TargetGroup] = field(default_factory=dict)


class DiscoveryManager:
    def __init__(self, callback: Publish, *, node_name: str = "", debounce: float = 1.0) -> None:
        self.callback = callback
        self.node_name = node_name
        self.debounce = debounce
        self.providers: dict[tuple[str, str], _Provider] = {}
        self.jobs: list[str] = []
        self._published_once = False
        self._last_publish = 0.0
        self._pending: asyncio.TimerHandle | asyncio.Handle | None = None

    @property
    def synced(self) -> bool:
        return all(p.synced for p in self.providers.values())

    # -- config ----------------------------------------------------------------------------
    def _wanted(self, sc: ScrapeConfig) -> list[tuple[str, object]]:
        out: list[tuple[str, object]] = []
        if sc.static_configs:
            out.append(("static/0", sc.static_configs))
        for i, fc in enumerate(sc.file_sd_configs):
            out.append((f"file/{i}", fc))
        for i, kc in enumerate(sc.kubernetes_sd_configs):
            out.append((f"kubernetes/{i}", kc))
        return out

    def _make(self, job: str, name: str, config: object) -> Discoverer:
        kind = name.split("/", 1)[0]
        if kind == "static":
            return StaticDiscoverer(config)  # type: ignore[arg-type]
        if kind == "file":
            return FileDiscoverer(config)  # type: ignore[arg-type]
        mod = importlib.import_module("agent.discovery.kubernetes")
        d: Discoverer = mod.KubernetesDiscoverer(config, node_name=self.node_name, job=job)
        return d

    def apply_config(self, cfg: Config | Sequence[ScrapeConfig]) -> None:
        """Start/stop discoverers for a (re)loaded config. Call on the event loop."""
        jobs = list(cfg.scrape_configs) if isinstance(cfg, Config) else list(cfg)
        wanted: dict[tuple[str, str], object] = {}
        for sc in jobs:
            for name, conf in self._wanted(sc):
                wanted[(sc.job_name, name)] = conf
        for key in list(self.providers):
            p = self.providers[key]
            if key not in wanted or wanted[key] != p.config:
                if p.task is not None:
                    p.task.cancel()
                del self.providers[key]
        for key, conf in wanted.items():
            if key in self.providers:
                continue
            job, name = key
            try:
                d = self._make(job, name, conf)
            except Exception as exc:
                log.error("job %s: cannot start %s discovery: %s", job, name, exc)
                continue
            p = _Provider(job, name, conf, d)
            self.providers[key] = p
            p.task = asyncio.get_running_loop().create_task(
                self._run(p), name=f"discovery {job} {name}"
            )
        self.jobs = [sc.job_name for sc in jobs]
        self._trigger()

    async def _run(self, p: _Provider) -> None:
        def send(groups: list[TargetGroup]) -> None:
            if self.providers.get((p.job, p.name)) is not p:
                return  # replaced by a reload
            changed = not p.synced
            for g in groups:
                if g.targets:
                    if p.groups.get(g.source) != g:
                        p.groups[g.source] = g
                        changed = True
                elif p.groups.pop(g.source, None) is not None:
                    changed = True
            p.synced = True
            if changed:  # a periodic re-read that found nothing new publishes nothing
                self._trigger()

        try:
            await p.discoverer.run(send)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s: %s discovery stopped", p.job, p.name)
            p.synced = True

    # -- publishing ------------------------------------------------------------------------
    def all_groups(self) -> dict[str, list[TargetGroup]]:
        out: dict[str, list[TargetGroup]] = {job: [] for job in self.jobs}
        for (job, _), p in self.providers.items():
            out.setdefault(job, []).extend(p.groups.values())
        return out

    def _trigger(self) -> None:
        if self._pending is not None:
            return
        loop = asyncio.get_running_loop()
        if not self._published_once:
            self._pending = loop.call_soon(self._publish)
        else:
            delay = max(0.0, self._last_publish + self.debounce - loop.time())
            self._pending = loop.call_later(delay, self._publish)

    def _publish(self) -> None:
        self._pending = None
        self._published_once = True
        self._last_publish = asyncio.get_running_loop().time()
        try:
            self.callback(self.all_groups())
        except Exception:
            log.exception("discovery: target update callback failed")

    async def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        tasks = [p.task for p in self.providers.values() if p.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.providers.clear()
