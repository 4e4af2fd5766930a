"""Parse benchmark: agent.scrape.parse vs prometheus_client on generated pages.

For each page (text 0.0.4; the last two as OpenMetrics, the OpenMetrics KSM page with a tenth of
the pods): µs/sample cold (a new Parser), steady (the same Parser, second and later parses of
the same page), churn (10% of pods renamed every scrape, with sweep()), and
``prometheus_client.parser.text_string_to_metric_families`` on the same page in the same run;
then the ratio and the peak RSS of the process. Times are CPU time (``time.process_time``,
best of N), so a busy machine does not inflate them; a DaemonSet pays CPU, not wall time.

    /work/venv/bin/python bench/parse_bench.py [--pods 3000] [--nodes 100] [--repeat 5]

``--baseline REV`` instead compares this checkout with git revision REV on the full KSM page,
text and OpenMetrics, in the same run: REV's ``agent`` package is exported to a temporary
directory and the two versions are measured in alternating fresh processes (``--rounds``
times each), reporting the median of each figure: cold (a new Parser), cold with the cyclic GC
paused (as the scrape loop parses big pages, see agent/scrape/gcpause.py), and steady. With
``--slow-path`` the per-line cost of the slow path (``parse_sample_line`` + ``compact``, and
``parse_sample_flat`` where it exists) over the page's sample lines is measured as well.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families
from prometheus_client.parser import text_string_to_metric_families

from agent.devtools.pages import cadvisor_page, histogram_page, ksm_page
from agent.scrape.parse import Parser


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def _rss_mib() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024 * 1024) if sys.platform == "darwin" else r / 1024


def bench(
    label: str, page: bytes, churn_pages: list[bytes] | None, repeat: int, fmt: str = "text"
) -> dict[str, float]:
    n = len(Parser().parse(page, fmt).samples)
    cold = _best(lambda: Parser().parse(page, fmt), max(1, repeat // 2))
    p = Parser()
    p.parse(page, fmt)
    steady = _best(lambda: p.parse(page, fmt), repeat)
    rss_ours = _rss_mib()
    gc.collect()
    tracemalloc.start()
    tp = Parser()
    tr = tp.parse(page, fmt)
    total = tracemalloc.get_traced_memory()[0]
    del tr
    gc.collect()
    cache_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del tp
    text = page.decode()
    families = om_families if fmt == "openmetrics" else text_string_to_metric_families
    client = _best(lambda: sum(len(f.samples) for f in families(text)), 1)
    out = {
        "samples": n,
        "cold_us": cold / n * 1e6,
        "steady_us": steady / n * 1e6,
        "client_us": client / n * 1e6,
    }
    line = (
        f"{label:<10} {n:>8} samples  cold {out['cold_us']:6.2f} µs/sample  "
        f"steady {out['steady_us']:5.2f} µs/sample  prometheus_client {out['client_us']:6.2f} "
        f"µs/sample  ratio steady {client / steady:5.1f}x  cold {client / cold:4.1f}x"
    )
    line += (
        f"\n{'':<10} memory: parser (series cache + last samples) {cache_bytes / 2**20:.1f} MiB "
        f"({cache_bytes / n:.0f} B/series), with the result {total / 2**20:.1f} MiB; "
        f"peak RSS so far {rss_ours:.0f} MiB (before prometheus_client ran on this page)"
    )
    if churn_pages:
        cp = Parser()
        cp.parse(page, "text")
        times = []
        sizes = []
        for cpage in churn_pages:
            t = time.process_time()
            cp.parse(cpage, "text")
            times.append(time.process_time() - t)
            cp.sweep()
            sizes.append(len(cp))
        out["churn_us"] = min(times) / n * 1e6
        line += (
            f"\n{'':<10} churn 10%/scrape: {out['churn_us']:5.2f} µs/sample, cache sizes {sizes}"
        )
    print(line, flush=True)
    return out


_RSS_PROBE = """
import gc, resource, sys
from agent.devtools.pages import ksm_page
from agent.scrape.parse import Parser


def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


page = ksm_page(int(sys.argv[1]), int(sys.argv[2]))
gc.collect()
try:  # Linux: reset the high-water mark (it survives fork/exec from a big parent)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
base = status("VmRSS")
p = Parser()
for _ in range(3):
    r = p.parse(page, "text")
    p.sweep()
    del r
gc.collect()
print(base, status("VmHWM"), status("VmRSS"), len(p))
"""


def rss_probe(nodes: int, pods: int) -> None:
    """RSS of a fresh process that only parses the KSM page (3 scrapes + sweep), in KiB from
    /proc/self/status: before the first parse, peak, and after."""
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(nodes), str(pods)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    base, peak, after, n = (int(x) for x in out.stdout.split())
    print(
        f"ksm alone (fresh process, {n} series cached): RSS {base / 1024:.0f} MiB before the "
        f"first parse (interpreter + page), peak {peak / 1024:.0f} MiB, "
        f"{after / 1024:.0f} MiB after 3 scrapes"
    )


_AB_PROBE = """
import gc, json, sys, time
from agent.devtools.pages import ksm_page
from agent.scrape import _parse_text
from agent.scrape.parse import Parser

nodes, pods, repeat, slow = (int(x) for x in sys.argv[1:5])
out = {}


def best(fn, paused=False):
    b = float("inf")
    for _ in range(repeat):
        gc.collect()
        if paused:
            gc.disable()
        t = time.process_time()
        fn()
        b = min(b, time.process_time() - t)
        gc.enable()
    return b


for fmt in ("text", "openmetrics"):
    page = ksm_page(nodes, pods, openmetrics=fmt == "openmetrics")
    n = len(Parser().parse(page, fmt).samples)
    key = "ksm" if fmt == "text" else "ksm OM"
    out[key + " cold"] = best(lambda: Parser().parse(page, fmt)) / n * 1e6
    out[key + " cold, GC paused"] = best(lambda: Parser().parse(page, fmt), True) / n * 1e6
    p = Parser()
    p.parse(page, fmt)
    out[key + " steady"] = best(lambda: p.parse(page, fmt)) / n * 1e6
if slow:
    items, mtype = [], "unknown"
    for no, line in enumerate(ksm_page(nodes, pods).decode().split(chr(10)), 1):
        if line.startswith("# TYPE "):
            mtype = line.split(" ")[3]
        elif line and line[0] != "#":
            items.append((line, no, mtype))
    psl, compact = _parse_text.parse_sample_line, _parse_text.compact

    def two():
        share = {}.setdefault
        for line, no, mtype in items:
            s, (name, labels), v, ts = psl(line, no, mtype)
            compact(name, labels, share)

    out["slow path: parse_sample_line+compact"] = best(two, True) / len(items) * 1e6
    flat = getattr(_parse_text, "parse_sample_flat", None)
    if flat is not None:

        def one():
            share = {}.setdefault
            for line, no, mtype in items:
                flat(line, no, mtype, share)

        out["slow path: parse_sample_flat"] = best(one, True) / len(items) * 1e6
print(json.dumps(out))
"""


def compare(rev: str, nodes: int, pods: int, repeat: int, rounds: int, slow: bool) -> None:
    """Median figures of this checkout and of git revision ``rev``, measured alternately."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", rev, "agent"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        sides = {rev: tmp, "this checkout": str(root)}
        runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        for _ in range(rounds):
            for side, path in sides.items():
                env = dict(os.environ, PYTHONPATH=path)
                args = [str(nodes), str(pods), str(repeat), str(int(slow))]
                got = subprocess.run(
                    [sys.executable, "-c", _AB_PROBE, *args],
                    env=env, cwd=path, capture_output=True, text=True, check=True, timeout=1200,
                )  # fmt: skip
                runs[side].append(json.loads(got.stdout))
    print(
        f"KSM page ({nodes} nodes, {pods} pods), µs/sample, CPU time, median of {rounds} "
        f"alternating fresh processes (each figure best of {repeat})"
    )
    keys = list(runs["this checkout"][0])
    print(f"{'':<40} {rev[:14]:>14} {'this checkout':>14}")
    for key in keys:
        med = [
            statistics.median(r[key] for r in runs[side]) if key in runs[side][0] else None
            for side in sides
        ]
        cells = " ".join(f"{'-' if m is None else f'{m:.2f}':>14}" for m in med)
        print(f"{key:<40} {cells}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--cadvisor-pods", type=int, default=110)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--baseline", metavar="REV", help="compare with this git revision (A/B)")
    ap.add_argument("--rounds", type=int, default=5, help="A/B: processes per side")
    ap.add_argument("--slow-path", action="store_true", help="A/B: also the per-line slow path")
    a = ap.parse_args(argv)
    if a.baseline:
        compare(a.baseline, a.nodes, a.pods, max(1, a.repeat // 2), a.rounds, a.slow_path)
        return 0
    print(
        f"python {sys.version.split()[0]}; CPU time, best of {a.repeat} "
        f"(cold: {max(1, a.repeat // 2)}, prometheus_client: 1)"
    )
    ksm = ksm_page(a.nodes, a.pods)
    ksm_churn = [ksm_page(a.nodes, a.pods, churn=0.1, generation=g) for g in range(1, 4)]
    bench("ksm", ksm, ksm_churn, a.repeat)
    cad = cadvisor_page(a.cadvisor_pods)
    cad_churn = [cadvisor_page(a.cadvisor_pods, churn=0.1, generation=g) for g in range(1, 4)]
    bench("cadvisor", cad, cad_churn, a.repeat)
    bench("histogram", histogram_page(), None, a.repeat)
    om_pods = max(1, a.pods // 10)
    bench(
        "ksm OM",
        ksm_page(a.nodes // 10 or 1, om_pods, openmetrics=True),
        None,
        a.repeat,
        "openmetrics",
    )
    bench("hist. OM", histogram_page(openmetrics=True), None, a.repeat, "openmetrics")
    print(f"peak RSS {_rss_mib():.0f} MiB (whole process: pages, parsers, client_python)")
    rss_probe(a.nodes, a.pods)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
