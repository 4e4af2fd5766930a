"""Load benchmark: N local targets on one agent process; prints scrape timing, CPU and RSS.

    python bench/load_bench.py                       # 200 targets, 15 s interval, 4 intervals
    python bench/load_bench.py --targets 500 --interval 15 --intervals 8 --series 200

Targets are served by a few in-process HTTP servers (``agent.devtools.target_server``); the
OTLP receiver only counts. Timing is measured at the targets: the time between two requests
of one target versus the interval. CPU is the agent process's user+system time over the
measured window (``/proc``), RSS its resident set at the end and its peak.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reliability"))

from reliability_helpers import AgentProcess, CountingPage, intervals, wait_until  # noqa: E402

from agent.devtools.otlp_receiver import OTLPReceiver  # noqa: E402
from agent.devtools.target_server import TargetServer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--intervals", type=int, default=4, help="intervals measured")
    ap.add_argument("--series", type=int, default=50, help="series per page")
    ap.add_argument("--servers", type=int, default=4)
    a = ap.parse_args(argv)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        rx = stack.enter_context(OTLPReceiver(decode=False))
        servers = [stack.enter_context(TargetServer()) for _ in range(a.servers)]
        pages: list[CountingPage] = []
        entries = []
        for i in range(a.targets):
            srv = servers[i % a.servers]
            p = CountingPage(extra_series=a.series)
            srv.set(f"/t{i}", p)
            pages.append(p)
            entries.append(
                f"      - targets: ['{srv.address}']\n"
                f"        labels: {{__metrics_path__: /t{i}, t: '{i}'}}"
            )
        cfg = Path(tmp) / "scrape.yml"
        cfg.write_text(
            f"global: {{scrape_interval: {a.interval:g}s, scrape_timeout: "
            f"{min(a.interval, 10):g}s}}\nscrape_configs:\n  - job_name: load\n"
            "    static_configs:\n" + "\n".join(entries) + "\n"
            f"scrape_agent:\n  otlp: {{endpoint: {rx.http_endpoint}}}\n"
        )
        agent = AgentProcess(cfg)
        try:
            agent.wait_ready()
            if not wait_until(lambda: all(p.n >= 1 for p in pages), a.interval * 3):
                print("not every target was scraped within 3 intervals", file=sys.stderr)
                return 1
            cpu0, t0 = agent.cpu_seconds(), time.monotonic()
            n0 = [p.n for p in pages]
            time.sleep(a.interval * a.intervals)
            wall = time.monotonic() - t0
            cpu = (agent.cpu_seconds() - cpu0) / wall
            rss, peak = agent.rss_mb(), agent.peak_rss_mb()
            scrapes = sum(p.n - n for p, n in zip(pages, n0, strict=True))
            exported = agent.metric("scrape_agent_exported_points_total")
        finally:
            agent.stop()
    devs = sorted(abs(x - a.interval) for p in pages for x in intervals(p.times))
    p99 = devs[int(len(devs) * 0.99) - 1] if devs else 0.0
    print(f"targets            {a.targets} x {a.series + 1} series, interval {a.interval:g}s")
    print(f"measured           {wall:.0f}s, {scrapes} scrapes ({scrapes / wall:.1f}/s)")
    print(
        f"timing deviation   median {statistics.median(devs) * 1000:.1f} ms, p99 "
        f"{p99 * 1000:.1f} ms, max {devs[-1] * 1000:.1f} ms "
        f"({devs[-1] / a.interval:.2%} of the interval)"
    )
    print(f"agent CPU          {cpu:.1%} of one core")
    print(f"agent RSS          {rss:.0f} MB (peak {peak:.0f} MB)")
    print(f"exported points    {exported:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
