"""``scrape-agent run``: the agent process.

::

    scrape-agent run --config.file=PATH [--web.listen-address=HOST:PORT] [--storage.path=DIR]
                     [--log.format=logfmt|json] [--log.level=debug|info|warn|error]
                     [--[no-]web.enable-lifecycle] [--config.watch-interval=3s]

One asyncio event loop wires the stages: config -> ``DiscoveryManager`` -> ``ScrapeManager`` ->
sink -> translate worker (one thread: big batches never stall the loop) -> ``Exporter``.

- ``--web.listen-address`` defaults to ``127.0.0.1:9464`` (only this host can read the pages);
  the DaemonSet passes ``0.0.0.0:9464``. ``:9464`` means every interface, as in Prometheus.
- Reload, in place (targets that stay keep their loops and start-time state): ``SIGHUP``,
  ``POST /-/reload`` and a change of the config file's content (checked every
  ``--config.watch-interval``, default 3 s, ``0`` disables; a ConfigMap swapping its symlink is a
  change). The lifecycle endpoint is **on by default**, unlike Prometheus, because the agent
  listens on loopback by default and a reload cannot do harm; ``--no-web.enable-lifecycle``
  turns it off (403). A new config that does not load is refused: the error is logged,
  ``scrape_agent_config_last_reload_successful`` drops to 0, ``/-/reload`` answers 500 with the
  error, and the old config keeps running.
- ``SIGTERM``/``SIGINT``: stop discovery and scraping, let the translate worker finish, drain
  the exporter within ``scrape_agent.queue.drain_timeout``, exit 0. A second ``SIGINT`` exits at
  once (code 130).
- Ready (``/readyz``) = the config loaded, discovery synced once, and the exporter not failing
  hopelessly: at least ``HOPELESS_FAILURES`` exports failed in a row *and* the oldest queued
  data waited more than ``HOPELESS_AGE`` seconds.

Self-scrape: to ship the agent's own metrics with the rest, add a job scraping its listen
address. On one machine::

    - job_name: scrape-agent
      static_configs: [{targets: ["127.0.0.1:9464"]}]

In a DaemonSet every pod would then report the same ``instance`` (127.0.0.1:9464); discover
the agent pods instead, so that with ``scrape_agent.node_local.enabled`` each agent finds only
itself and ``instance`` is its pod IP::

    - job_name: scrape-agent
      kubernetes_sd_configs: [{role: pod}]
      relabel_configs:
        - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name,
                          __meta_kubernetes_pod_container_port_number]
          regex: scrape-agent;9464
          action: keep
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import inspect
import logging
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent import __version__, logs
from agent.model import DroppedTarget, EncodedBatch, ScrapeBatch, TargetGroup, TargetStatus
from agent.selfmetrics import SelfStats, as_dict, build_registry
from agent.server import AgentServer

log = logging.getLogger("agent.runner")

DEFAULT_LISTEN = "127.0.0.1:9464"
HOPELESS_FAILURES = 5
HOPELESS_AGE = 300.0
EXPORT_CHECK_INTERVAL = 2.0
# Samples waiting for translation before new scrapes are dropped (~ a few hundred MB).
MAX_PENDING_SAMPLES = 2_000_000


# ---------------------------------------------------------------------------------------------
# Flags


def parse_duration(text: str) -> float:
    """``3s``, ``500ms``, ``1m``, or plain seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    t = text.strip()
    for u in ("ms", "s", "m", "h"):
        if t.endswith(u):
            try:
                return float(t[: -len(u)]) * units[u]
            except ValueError:
                break
    try:
        return float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (use e.g. 3s, 500ms, 1m)"
        ) from None


def parse_listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (all interfaces) or ``[v6]:PORT``."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            f"--web.listen-address {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9464 or :9464"
        )
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config.file",
        dest="config_file",
        required=True,
        metavar="PATH",
        help="scrape config (Prometheus YAML or the collector's receivers: form)",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address of /metrics, /targets, ... (default {DEFAULT_LISTEN})",
    )
    p.add_argument(
        "--storage.path",
        dest="storage_path",
        default=None,
        metavar="DIR",
        help="directory for the export queue's spill files (default: memory only)",
    )
    p.add_argument("--log.format", dest="log_format", default="logfmt", choices=logs.FORMATS)
    p.add_argument("--log.level", dest="log_level", default="info", choices=list(logs.LEVELS))
    p.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="allow POST /-/reload (default on; the listen address is loopback by default)",
    )
    p.add_argument(
        "--config.watch-interval",
        dest="watch_interval",
        default=3.0,
        type=parse_duration,
        metavar="DURATION",
        help="how often to check the config file for changes (0: never)",
    )


@dataclass
class RunOptions:
    config_file: str
    listen_address: str = DEFAULT_LISTEN
    storage_path: str | None = None
    enable_lifecycle: bool = True
    watch_interval: float = 3.0


def main(args: argparse.Namespace) -> int:
    try:
        logs.setup(args.log_format, args.log_level)
    except ValueError as e:
        print(f"scrape-agent: {e}")
        return 2
    try:
        parse_listen_address(args.listen_address)
    except argparse.ArgumentTypeError as e:
        log.error(str(e))
        return 2
    opts = RunOptions(
        config_file=args.config_file,
        listen_address=args.listen_address,
        storage_path=args.storage_path,
        enable_lifecycle=args.enable_lifecycle,
        watch_interval=args.watch_interval,
    )
    try:
        return asyncio.run(Agent(opts).run())
    except KeyboardInterrupt:
        return 130


# ---------------------------------------------------------------------------------------------
# Secrets: every credential the config names is registered with the log redactor.


def _secret_values(obj: object, depth: int = 0) -> list[str]:
    """Inline secrets and the contents of secret files found in a config object tree."""
    from agent.config import Authorization, BasicAuth, HTTPHeader, OTLPConfig, TLSConfig

    out: list[str] = []
    if depth > 12:
        return out

    def read_file(path: str) -> None:
        if not path:
            return
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if os.path.getsize(path) <= 65536:
                with open(path, encoding="utf-8") as f:
                    out.append(f.read().strip())

    if isinstance(obj, Authorization):
        out.append(obj.credentials)
        read_file(obj.credentials_file)
    elif isinstance(obj, BasicAuth):
        out.append(obj.password)
        read_file(obj.password_file)
    elif isinstance(obj, TLSConfig):
        out.append(obj.key)
    elif isinstance(obj, HTTPHeader):
        out.extend(obj.secrets)
        for fp in obj.files:
            read_file(fp)
    elif isinstance(obj, OTLPConfig):
        out.extend(obj.headers.values())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            if f.name == "raw":
                continue
            out.extend(_secret_values(getattr(obj, f.name), depth + 1))
    elif isinstance(obj, (tuple, list)):
        for v in obj:
            out.extend(_secret_values(v, depth + 1))
    elif isinstance(obj, Mapping):
        for v in obj.values():
            if dataclasses.is_dataclass(v):
                out.extend(_secret_values(v, depth + 1))
    return [s for s in out if s]


async def _maybe_await(value: object) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


# ---------------------------------------------------------------------------------------------
# Translation off the event loop


class TranslateWorker:
    """One thread owns the Translator: batches are translated in arrival order, the encoded
    results are handed to ``submit`` on the event loop. ``put`` never blocks.

    The backlog is bounded by ``max_pending_samples``: past it (translation slower than
    scraping for a long while) new batches are dropped, counted (``dropped_batches``,
    ``dropped_samples``) and logged once, instead of growing memory without bound.
    """

    def __init__(
        self,
        translator: Any,
        loop: asyncio.AbstractEventLoop,
        submit: Callable[[list[EncodedBatch]], None],
        max_pending_samples: int = MAX_PENDING_SAMPLES,
        compress: bool = False,
    ) -> None:
        self.translator = translator
        # gzip each encoded request here, off the loop, once: the export queue stores and
        # sends the compressed bytes (agent.export.codec).
        self.compress = compress
        self._loop = loop
        self._submit = submit
        self._q: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._pending = 0
        self._pending_samples = 0
        self.max_pending_samples = max_pending_samples
        self.dropped_batches = 0
        self.dropped_samples = 0
        self._overloaded = False
        self._lock = threading.Lock()
        self._errors = logs.StateLog(log)
        self._thread = threading.Thread(target=self._run, name="translate", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    def put(self, batch: ScrapeBatch) -> None:
        n = batch.size + len(batch.report)
        with self._lock:
            if self._pending and self._pending_samples + n > self.max_pending_samples:
                self.dropped_batches += 1
                self.dropped_samples += n
                overloaded = True
            else:
                self._pending += 1
                self._pending_samples += n
                overloaded = False
        if overloaded != self._overloaded:
            self._overloaded = overloaded
            self._errors.update(
                "backlog",
                "failing" if overloaded else "ok",
                "translation backlog full: scrapes are dropped"
                if overloaded
                else "translation keeps up again",
                pending_samples=self._pending_samples,
                job=batch.target.job,
            )
        if not overloaded:
            self._q.put(("batch", batch))

    def forget(self, job: str, instance: str) -> None:
        self._q.put(("forget", (job, instance)))

    def replace(self, translator: Any) -> None:
        self._q.put(("replace", translator))

    def _run(self) -> None:
        while True:
            kind, item = self._q.get()
            if kind == "stop":
                item.set()
                return
            if kind == "flush":
                item.set()
                continue
            try:
                if kind == "batch":
                    self._translate(item)
                elif kind == "forget":
                    self.translator.forget(*item)
                elif kind == "replace":
                    self.translator = item
            except Exception as e:
                job = getattr(getattr(item, "target", None), "job", "?")
                self._errors.update(
                    ("translate", job),
                    "error",
                    "translation failed; batch dropped",
                    job=job,
                    err=repr(e),
                )
            finally:
                if kind == "batch":
                    with self._lock:
                        self._pending -= 1
                        self._pending_samples -= item.size + len(item.report)

    def _translate(self, batch: ScrapeBatch) -> None:
        from agent.export.codec import compress_batch

        # each request is gzipped as soon as it is packed: the raw payload of a big scrape
        # (~27 MB for kube-state-metrics) is never all in memory at once
        encoded = self.translator.translate(batch, compress_batch if self.compress else None)
        self._errors.update(
            ("translate", batch.target.job), "ok", "translation works again", job=batch.target.job
        )
        if encoded:
            self._loop.call_soon_threadsafe(self._submit, list(encoded))

    async def flush(self, timeout: float) -> bool:
        """Wait until everything put so far is translated (and handed to the loop)."""
        done = threading.Event()
        self._q.put(("flush", done))
        return await asyncio.to_thread(done.wait, timeout)

    async def stop(self, timeout: float) -> None:
        done = threading.Event()
        self._q.put(("stop", done))
        await asyncio.to_thread(done.wait, timeout)


# ---------------------------------------------------------------------------------------------


class Agent:
    """The running agent; also the :class:`agent.server.AgentView` its HTTP server reads."""

    def __init__(self, opts: RunOptions) -> None:
        self.opts = opts
        self.lifecycle_enabled = opts.enable_lifecycle
        self.stats = SelfStats()
        self.registry = build_registry(self.stats, __version__)
        self.cfg: Any = None  # agent.config.Config once loaded
        self.server: AgentServer | None = None
        self._config_hash = ""
        self._failed_hash = ""
        self._reload_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._reloads: set[asyncio.Task[Any]] = set()
        self._discovery: Any = None
        self._scrape: Any = None
        self._exporter: Any = None
        self._worker: TranslateWorker | None = None
        self._old_exporters: set[asyncio.Task[Any]] = set()
        self._switch_buffer: list[EncodedBatch] | None = None
        self._synced = False
        self._targets_log = logs.StateLog(log)
        self._export_log = logs.StateLog(log)
        self._sigint_count = 0

    # -- AgentView -----------------------------------------------------------------------------

    def target_statuses(self) -> Sequence[TargetStatus]:
        if self._scrape is None:
            return []
        return list(self._scrape.target_statuses())

    def dropped_targets(self) -> Sequence[DroppedTarget]:
        if self._scrape is None:
            return []
        return list(self._scrape.dropped_targets())

    def config_yaml(self) -> str:
        import yaml

        from agent.config import redacted

        if self.cfg is None:
            return "# no configuration loaded\n"
        return str(yaml.safe_dump(redacted(self.cfg), sort_keys=False, allow_unicode=True))

    def readiness(self) -> tuple[bool, str]:
        if self.cfg is None:
            return False, "configuration not loaded"
        if not self._discovery_synced():
            return False, "service discovery has not synced yet"
        if self._exporter is not None:
            st = as_dict(self._exporter.stats())
            fails = int(st.get("consecutive_failures", 0) or 0)
            age = float(st.get("oldest_age_seconds", 0.0) or 0.0)
            if fails >= HOPELESS_FAILURES and age > HOPELESS_AGE:
                return False, (
                    f"exporting has failed {fails} times in a row and the oldest queued data is "
                    f"{age:.0f}s old; last error: {st.get('last_error', '')}"
                )
        return True, ""

    def _discovery_synced(self) -> bool:
        if self._synced:
            return True
        d = self._discovery
        if d is None:
            return False
        s = getattr(d, "synced", True)
        if isinstance(s, asyncio.Event):
            s = s.is_set()
        elif callable(s):
            s = s()
        self._synced = bool(s)
        return self._synced

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> int:
        """Load, start everything, serve until SIGTERM/SIGINT, drain; the exit code."""
        from agent.config import ConfigError

        loop = asyncio.get_running_loop()
        self._install_signals(loop)  # first: a SIGHUP during start-up must not kill us
        try:
            cfg, digest = await asyncio.to_thread(self._load)
        except ConfigError as e:
            log.error(
                "cannot load the configuration; not starting",
                extra={"file": self.opts.config_file, "err": _config_error_text(e)},
            )
            return 1
        except OSError as e:
            log.error(
                "cannot read the configuration file; not starting",
                extra={"file": self.opts.config_file, "err": str(e)},
            )
            return 1
        if cfg.agent.node_local.enabled and not _node_name(cfg):
            log.error(
                "scrape_agent.node_local.enabled needs a node name: set node_name or the "
                "NODE_NAME variable (fieldRef spec.nodeName in the DaemonSet)",
                extra={"file": self.opts.config_file},
            )
            return 1
        host, port = parse_listen_address(self.opts.listen_address)
        self.server = AgentServer(self, host, port, hostname=socket.gethostname())
        try:
            await self.server.start()
        except OSError as e:
            log.error("cannot listen", extra={"address": self.opts.listen_address, "err": str(e)})
            return 1
        try:
            await self._start_pipeline(cfg, loop)
        except Exception as e:
            log.exception("cannot start the pipeline", extra={"err": str(e)})
            await self._shutdown(cfg)
            return 1
        self.cfg = cfg
        self._config_hash = digest
        self.stats.reload_succeeded()
        log.info(
            "scrape-agent started",
            extra={
                "version": __version__,
                "config": self.opts.config_file,
                "jobs": len(cfg.scrape_configs),
                "listen": f"{host}:{self.server.port}",
            },
        )
        if self.opts.watch_interval > 0:
            self._tasks.append(asyncio.create_task(self._watch_config(), name="config-watch"))
        self._tasks.append(asyncio.create_task(self._watch_exporter(), name="export-watch"))
        await self._stop.wait()
        log.info(
            "shutting down: stopping scrapes, draining the export queue",
            extra={"drain_timeout": self.cfg.agent.queue.drain_timeout},
        )
        await self._shutdown(self.cfg)
        log.info("scrape-agent stopped")
        return 0

    def request_stop(self) -> None:
        self._stop.set()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # embedded (tests, demo): the owner stops us with request_stop()
        loop.add_signal_handler(signal.SIGTERM, self._on_term, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self._on_term, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self._on_hup)

    def _on_term(self, name: str) -> None:
        if name == "SIGINT":
            self._sigint_count += 1
            if self._sigint_count >= 2:
                log.warning("second SIGINT: exiting now without draining")
                logging.shutdown()
                os._exit(130)
        log.info("received signal", extra={"signal": name})
        self._stop.set()

    def _on_hup(self) -> None:
        log.info("received SIGHUP: reloading the configuration")
        t = asyncio.get_running_loop().create_task(self.reload())
        self._reloads.add(t)
        t.add_done_callback(self._reloads.discard)

    def _load(self) -> tuple[Any, str]:
        from agent.config import load

        with open(self.opts.config_file, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        cfg = load(self.opts.config_file)
        logs.register_secrets(_secret_values(cfg))
        for w in getattr(cfg, "warnings", ()):
            log.warning(f"configuration warning: {w}", extra={"file": self.opts.config_file})
        return cfg, digest

    async def _start_pipeline(self, cfg: Any, loop: asyncio.AbstractEventLoop) -> None:
        from agent.discovery.manager import DiscoveryManager
        from agent.export import Exporter
        from agent.scrape.manager import ScrapeManager
        from agent.translate import Translator

        self._exporter = Exporter(cfg.agent, storage_path=self.opts.storage_path)
        await self._exporter.start()
        self._worker = TranslateWorker(Translator(cfg.agent), loop, self._submit, compress=True)
        self.stats.exporter_stats = self._exporter_stats
        self.stats.translator_stats = self._translator_stats
        self.stats.pending_translation = lambda: self._worker.pending if self._worker else 0
        self._scrape = ScrapeManager(self._sink, offset_seed=_offset_seed())
        await _maybe_await(self._scrape.apply_config(cfg))
        self.stats.job_stats = self._scrape.stats
        self.stats.target_statuses = self.target_statuses
        self.stats.dropped_target_counts = self.dropped_target_counts
        self._discovery = DiscoveryManager(self._on_targets, node_name=_node_name(cfg))
        await _maybe_await(self._discovery.apply_config(cfg))

    def _exporter_stats(self) -> Mapping[str, Any]:
        return as_dict(self._exporter.stats()) if self._exporter is not None else {}

    def _translator_stats(self) -> Mapping[str, Any]:
        t = self._worker.translator if self._worker is not None else None
        s = getattr(t, "stats", None)
        if callable(s):
            s = s()
        out = as_dict(s)
        if self._worker is not None:
            out["backlog_dropped_batches"] = self._worker.dropped_batches
            out["backlog_dropped_samples"] = self._worker.dropped_samples
        return out

    def dropped_target_counts(self) -> Mapping[str, int]:
        if self._scrape is None:
            return {}
        return dict(self._scrape.dropped_target_counts())

    # -- data path -------------------------------------------------------------------------------

    def _on_targets(self, updates: Mapping[str, Sequence[TargetGroup]]) -> None:
        """Discovery's callback: ``{job: [TargetGroup]}``."""
        if self._stopping or self._scrape is None:
            return
        for job, groups in updates.items():
            self.stats.observe_discovery(job, len(groups))
            before = self._instances(job)
            self._scrape.sync(job, list(groups))
            gone = before - self._instances(job)
            if gone:
                self._forget_later(job, gone)

    def _instances(self, job: str) -> set[str]:
        return {
            st.labels.get("instance", "") for st in self.target_statuses() if st.scrape_pool == job
        }

    def _forget_later(self, job: str, instances: set[str]) -> None:
        """Drop a departed target's translation state once its stale markers went out
        (the scrape manager sends them 2 intervals + 10% after the target left)."""
        sc = self.cfg.job(job) if self.cfg is not None else None
        interval = float(sc.scrape_interval) if sc is not None else 60.0
        loop = asyncio.get_running_loop()

        def fire() -> None:
            if self._stopping:
                return
            still = self._instances(job)
            for inst in instances - still:
                self.forget_target(job, inst)

        loop.call_later(3 * interval + 5, fire)

    def _sink(self, batch: ScrapeBatch) -> None:
        """Called once per scrape by the scrape manager, on the loop; never blocks."""
        try:
            self.stats.observe_batch(batch)
            self._note_health(batch)
        except Exception:  # bookkeeping must never cost the data
            log.exception("self-metrics bookkeeping failed", extra={"job": batch.target.job})
        if self._worker is not None:
            self._worker.put(batch)

    def _note_health(self, batch: ScrapeBatch) -> None:
        up = 1.0
        for s in batch.report:
            if s.labels and ("__name__", "up") in s.labels:
                up = s.value
                break
        t = batch.target
        key = (t.job, t.instance)
        if up != up:  # a stale marker: the target went away (end-of-run staleness)
            self._targets_log.forget(key)
            return
        state = "up" if up == 1.0 else "down"
        if self._targets_log.get(key) == state:
            return  # the common case: no change, nothing to say
        if state == "down":
            self._targets_log.update(
                key,
                state,
                "target is down",
                job=t.job,
                instance=t.instance,
                err=self._last_error(t.job, t.instance),
            )
        else:
            self._targets_log.update(key, state, "target is up", job=t.job, instance=t.instance)

    def _last_error(self, job: str, instance: str) -> str:
        loops = getattr(self._scrape, "loops", None)
        if loops is None or job not in getattr(self._scrape, "pools", {}):
            return ""
        for lp in loops(job):
            if lp.info.instance == instance:
                return str(lp.last_error)
        return ""

    def forget_target(self, job: str, instance: str) -> None:
        """A target went away: drop its translation state and its log state."""
        self._targets_log.forget((job, instance))
        if self._worker is not None:
            self._worker.forget(job, instance)

    def _submit(self, encoded: list[EncodedBatch]) -> None:
        if self._exporter is None:
            if self._switch_buffer is not None:  # exporter being replaced (disk queue)
                self._switch_buffer.extend(encoded)
            return
        for e in encoded:
            self._exporter.submit(e)

    # -- reload ----------------------------------------------------------------------------------

    async def reload(self) -> str | None:
        """Load the config file again and apply it in place; ``None`` or the error text."""
        from agent.config import ConfigError

        async with self._reload_lock:
            if self._stopping:
                return "shutting down"
            if self.cfg is None:
                return "still starting; try again in a moment"
            try:
                cfg, digest = await asyncio.to_thread(self._load)
            except (ConfigError, OSError) as e:
                err = _config_error_text(e) if isinstance(e, ConfigError) else str(e)
                try:
                    with open(self.opts.config_file, "rb") as f:
                        self._failed_hash = hashlib.sha256(f.read()).hexdigest()
                except OSError:
                    pass
                self.stats.reload_failed(err)
                log.error(
                    "new configuration refused; the previous one keeps running",
                    extra={"file": self.opts.config_file, "err": err},
                )
                return err
            try:
                await self._apply(cfg)
            except Exception as e:
                self.stats.reload_failed(str(e))
                log.exception("applying the new configuration failed", extra={"err": str(e)})
                return f"applying the configuration failed: {e}"
            self._config_hash = digest
            self._failed_hash = ""
            self.stats.reload_succeeded()
            log.info(
                "configuration reloaded",
                extra={"file": self.opts.config_file, "jobs": len(cfg.scrape_configs)},
            )
            return None

    async def _apply(self, cfg: Any) -> None:
        old = self.cfg
        if old is not None and old.agent != cfg.agent:
            await self._apply_agent_section(old.agent, cfg.agent)
        await _maybe_await(self._scrape.apply_config(cfg))
        if _node_name(cfg) != getattr(self._discovery, "node_name", ""):
            from agent.discovery.manager import DiscoveryManager

            log.info("node_local changed: restarting service discovery")
            await _maybe_await(self._discovery.stop())
            self._synced = False
            self._discovery = DiscoveryManager(self._on_targets, node_name=_node_name(cfg))
        await _maybe_await(self._discovery.apply_config(cfg))
        self.cfg = cfg
        self.stats.forget_jobs({sc.job_name for sc in cfg.scrape_configs})

    async def _apply_agent_section(self, old: Any, new: Any) -> None:
        from agent.export import Exporter
        from agent.translate import Translator

        if old.otlp != new.otlp or old.queue != new.queue:
            log.info("export settings changed: starting a new exporter, draining the old one")
            previous = self._exporter
            if self.opts.storage_path and previous is not None:
                # One disk queue, one owner: the old exporter drains and closes it first; the
                # new one replays what is left. Meanwhile batches wait in memory.
                self._exporter = None
                self._switch_buffer = []
                try:
                    await previous.stop(old.queue.drain_timeout)
                    previous = None
                finally:
                    exporter = Exporter(new, storage_path=self.opts.storage_path)
                    await exporter.start()
                    self._exporter = exporter
                    buffered, self._switch_buffer = self._switch_buffer, None
                    for e in buffered or ():
                        exporter.submit(e)
            else:
                exporter = Exporter(new, storage_path=self.opts.storage_path)
                await exporter.start()
                self._exporter = exporter
            if previous is not None:
                t = asyncio.create_task(previous.stop(old.queue.drain_timeout))
                self._old_exporters.add(t)
                t.add_done_callback(self._old_exporters.discard)
        if (
            old.start_time,
            old.cluster_name,
            old.resource_attributes,
            old.queue.batch_max_points,
            old.queue.batch_max_bytes,
        ) != (
            new.start_time,
            new.cluster_name,
            new.resource_attributes,
            new.queue.batch_max_points,
            new.queue.batch_max_bytes,
        ) and self._worker is not None:
            log.info("translation settings changed: a new translator starts (start times reset)")
            self._worker.replace(Translator(new))

    async def _watch_config(self) -> None:
        while not self._stop.is_set():
            # asyncio.timeout, not wait_for: no task created (and run) per wait
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.opts.watch_interval):
                    await self._stop.wait()
            if self._stop.is_set():
                return
            try:
                digest = await asyncio.to_thread(_file_hash, self.opts.config_file)
            except OSError as e:
                log.debug("cannot read the config file", extra={"err": str(e)})
                continue
            if digest not in (self._config_hash, self._failed_hash):
                log.info(
                    "the configuration file changed: reloading",
                    extra={"file": self.opts.config_file},
                )
                await self.reload()

    async def _watch_exporter(self) -> None:
        while not self._stop.is_set():
            # asyncio.timeout, not wait_for: no task created (and run) per wait
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(EXPORT_CHECK_INTERVAL):
                    await self._stop.wait()
            if self._exporter is None:
                continue
            failures, last_error = self._exporter.failures()
            if failures > 0:
                self._export_log.update(
                    "export",
                    "failing",
                    "exporting to the OTLP endpoint fails",
                    endpoint=self.cfg.agent.otlp.endpoint,
                    err=last_error,
                )
            else:
                self._export_log.update(
                    "export", "ok", "exporting works again", endpoint=self.cfg.agent.otlp.endpoint
                )

    async def _shutdown(self, cfg: Any) -> None:
        self._stopping = True
        tasks = [*self._tasks, *self._reloads]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        drain = float(cfg.agent.queue.drain_timeout) if cfg is not None else 5.0
        deadline = time.monotonic() + drain
        for component in (self._discovery, self._scrape):
            if component is None:
                continue
            for name in ("stop", "aclose", "close"):
                fn = getattr(component, name, None)
                if fn is not None:
                    try:
                        await asyncio.wait_for(
                            _maybe_await(fn()), max(0.5, deadline - time.monotonic())
                        )
                    except Exception as e:
                        log.warning(
                            "error while stopping",
                            extra={"component": type(component).__name__, "err": repr(e)},
                        )
                    break
        if self._worker is not None:
            await self._worker.flush(max(0.5, deadline - time.monotonic()))
            await asyncio.sleep(0)  # let call_soon_threadsafe submissions run
            await self._worker.stop(1.0)
        if self._exporter is not None:
            await self._exporter.stop(max(0.5, deadline - time.monotonic()))
            st = as_dict(self._exporter.stats())
            left = int(st.get("queued_points", 0) or 0)
            if left:
                log.warning("export queue not empty at exit", extra={"points": left})
        if self._old_exporters:
            await asyncio.wait(self._old_exporters, timeout=max(0.5, deadline - time.monotonic()))
        if self.server is not None:
            await self.server.stop()


def _node_name(cfg: Any) -> str:
    """The node to restrict discovery to (``scrape_agent.node_local``), or ``""``."""
    nl = cfg.agent.node_local
    if not nl.enabled:
        return ""
    return str(nl.node_name or os.environ.get("NODE_NAME", ""))


def _offset_seed() -> int:
    """Per-host seed for scrape offsets, so agents on different nodes do not scrape a shared
    target (kube-state-metrics) in lockstep (Prometheus seeds with external labels + hostname)."""
    digest = hashlib.sha256(socket.gethostname().encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _file_hash(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _config_error_text(e: Exception) -> str:
    errors = getattr(e, "errors", None)
    if errors:
        return "; ".join(str(x) for x in errors)
    return str(e)
