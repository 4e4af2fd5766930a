"""Parse benchmark: agent.scrape.parse vs prometheus_client on generated pages.

For each page (text 0.0.4; the last two as OpenMetrics, the OpenMetrics KSM page with a tenth of
the pods): µs/sample cold (a new Parser), steady (the same Parser, second and later parses of
the same page), churn (10% of pods renamed every scrape, with sweep()), and
``prometheus_client.parser.text_string_to_metric_families`` on the same page in the same run;
then the ratio and the peak RSS of the process. Times are CPU time (``time.process_time``,
best of N), so a busy machine does not inflate them; a DaemonSet pays CPU, not wall time.

    /work/venv/bin/python bench/parse_bench.py [--pods 3000] [--nodes 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--cadvisor-pods", type=int, default=110)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
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
