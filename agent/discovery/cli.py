"""``scrape-agent check-sd PATH JOB [--timeout SECONDS]`` (like ``promtool check service-discovery``).

Loads the config, runs the job's discovery once (static and file directly, kubernetes until its
initial list is in), applies the job's ``relabel_configs`` and prints a JSON list::

    [{"discoveredLabels": {...}, "labels": {...} | null, "error": "..." | null}, ...]

``labels`` is null for a target that relabelling dropped. Node-local mode (``scrape_agent:
node_local``) applies as it does in ``run``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from agent.config import Config, ScrapeConfig
from agent.discovery import Discoverer
from agent.model import TargetGroup


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="PATH", help="the scrape config file")
    p.add_argument("job", metavar="JOB", help="the job_name whose discovery to run")
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the discovery's first result (default 30)",
    )


def node_name_for(cfg: Config) -> str | None:
    nl = cfg.agent.node_local
    if not nl.enabled:
        return None
    return nl.node_name or os.environ.get("NODE_NAME") or None


def discoverers_for(sc: ScrapeConfig, node_name: str | None) -> list[tuple[str, Discoverer]]:
    from agent.discovery.file import FileDiscoverer
    from agent.discovery.static import StaticDiscoverer

    out: list[tuple[str, Discoverer]] = []
    if sc.static_configs:
        out.append(("static_configs", StaticDiscoverer(sc.static_configs)))
    for i, fc in enumerate(sc.file_sd_configs):
        out.append((f"file_sd_configs[{i}]", FileDiscoverer(fc)))
    if sc.kubernetes_sd_configs:
        from agent.discovery.kubernetes import KubernetesDiscoverer

        for i, kc in enumerate(sc.kubernetes_sd_configs):
            d = KubernetesDiscoverer(kc, node_name=node_name, job=sc.job_name)
            out.append((f"kubernetes_sd_configs[{i}] (role {kc.role})", d))
    return out


async def first_groups(d: Discoverer, timeout: float) -> list[TargetGroup]:
    """Run ``d`` until its first ``send`` (its full initial set), then cancel it."""
    got: asyncio.Future[list[TargetGroup]] = asyncio.get_running_loop().create_future()

    def send(groups: list[TargetGroup]) -> None:
        if not got.done():
            got.set_result(list(groups))

    task = asyncio.create_task(d.run(send))
    try:
        waiters: set[asyncio.Future[Any]] = {task, got}
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when="FIRST_COMPLETED")
        if got.done():
            return got.result()
        if task in done and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        raise TimeoutError
    finally:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


async def discover(
    sc: ScrapeConfig, node_name: str | None, timeout: float
) -> tuple[list[TargetGroup], list[str]]:
    groups: list[TargetGroup] = []
    errors: list[str] = []
    for what, d in discoverers_for(sc, node_name):
        try:
            groups.extend(await first_groups(d, timeout))
            config_error = getattr(d, "config_error", "")
            if config_error:
                errors.append(f"job {sc.job_name!r}: {what}: {config_error}")
        except TimeoutError:
            detail = getattr(d, "last_error", "") or "no answer"
            errors.append(f"job {sc.job_name!r}: {what}: no targets after {timeout:g}s: {detail}")
        except Exception as e:
            errors.append(f"job {sc.job_name!r}: {what}: {e}")
    return groups, errors


def results_json(groups: list[TargetGroup], sc: ScrapeConfig) -> list[dict[str, Any]]:
    from agent.scrape.targets import build_targets

    out: list[dict[str, Any]] = []
    for g in groups:
        for r in build_targets(g, sc):
            labels = None
            if r.target is not None:
                labels = dict(sorted(r.target.populated_labels.items()))
            out.append(
                {
                    "discoveredLabels": dict(sorted(r.discovered_labels.items())),
                    "labels": labels,
                    "error": r.error,
                }
            )
    return out


def main(args: argparse.Namespace) -> int:
    from agent.config import ConfigError, load

    try:
        cfg = load(args.config)
    except ConfigError as e:
        for err in e.errors or [str(e)]:
            print(err, file=sys.stderr)
        return 1
    sc = cfg.job(args.job)
    if sc is None:
        jobs = ", ".join(repr(s.job_name) for s in cfg.scrape_configs) or "none"
        print(f"{args.config}: no job named {args.job!r} (jobs: {jobs})", file=sys.stderr)
        return 1
    groups, errors = asyncio.run(discover(sc, node_name_for(cfg), args.timeout))
    for err in errors:
        print(err, file=sys.stderr)
    json.dump(results_json(groups, sc), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 1 if errors else 0
