"""Per-stage cost of one scrape, in process, with the agent's own code: prints figures only.

    python bench/stages_bench.py [--page ksm|cadvisor|histograms] [--scrapes 4] [--gc default|freeze|off]

Stages, timed separately on the same generated page (the same one ``agent_bench.py`` serves):

  decompress  inflating the level-1 gzipped page as the scrape client does (ISA-L's isal_zlib
              when importable, else zlib)
  parse       agent.scrape.parse.Parser.parse (+ sweep)
  process     SeriesProcessor.process: target labels, metric relabelling, staleness (columns of Series)
  translate   Translator.translate: OTLP protobuf bytes (requests of batch_max_points)
  gzip        gzip level 1 of every request payload as the OTLP/HTTP sender does (ISA-L when
              importable, else zlib); also zlib levels 1 and 6, and zstd (when ``zstandard``
              is importable) for comparison
  http        POST of the gzipped payloads to a local server that discards them (httpx, as the
              sender; keep-alive)

"cold" is the first scrape of a new target (every cache empty); "warm" is the median of the
next ``--scrapes`` scrapes (the steady state). ``--gc`` selects the cyclic-GC policy while the
stages run: default thresholds, ``gc.freeze()`` after the cold scrape, or ``gc.disable()``; the
GC time is included in the stage where the collection happened to run.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import statistics
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agent.config import loads
from agent.devtools import pages
from agent.model import ScrapeBatch, TargetGroup, TargetInfo
from agent.scrape.parse import Parser
from agent.scrape.samples import SeriesProcessor
from agent.scrape.targets import build_targets
from agent.translate import Translator

CONFIG = """
scrape_configs:
  - job_name: bench
    static_configs:
      - targets: ['127.0.0.1:9999']
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'kube_pod_container_status_.*_total'
        action: drop
      - target_label: cluster
        replacement: bench
scrape_agent:
  otlp:
    endpoint: http://127.0.0.1:4318
"""

try:
    from isal import igzip, isal_zlib

    GZ = "isal"

    def inflate(data: bytes) -> bytes:
        d = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
        return d.decompress(data) + d.flush()

    def deflate(data: bytes) -> bytes:
        return igzip.compress(data, 1, mtime=0)

except ImportError:  # pragma: no cover
    GZ = "zlib"

    def inflate(data: bytes) -> bytes:
        return gzip.decompress(data)

    def deflate(data: bytes) -> bytes:
        return gzip.compress(data, 1, mtime=0)


STAGES = ("decompress", "parse", "process", "translate", "gzip", "http")


class _Sink:
    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1/metrics"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def make_page(kind: str) -> bytes:
    if kind == "ksm":
        return pages.ksm_page()
    if kind == "cadvisor":
        return pages.cadvisor_page()
    return pages.histogram_page(series=2000)  # as agent_bench.py


def cpu_timer(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Thread CPU time of fn (the HTTP stage's server thread is not counted)."""
    t0 = time.thread_time()
    out = fn()
    return time.thread_time() - t0, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--page", default="ksm", choices=["ksm", "cadvisor", "histograms"])
    ap.add_argument("--scrapes", type=int, default=4)
    ap.add_argument("--gc", default="default", choices=["default", "pause", "freeze", "off"])
    args = ap.parse_args(argv)
    import httpx

    try:
        import zstandard
    except ImportError:  # pragma: no cover - optional
        zstandard = None

    page = make_page(args.page)
    gz = gzip.compress(page, 1)
    cfg = loads(CONFIG)
    sc = cfg.scrape_configs[0]
    target = build_targets(TargetGroup("0", ({"__address__": "127.0.0.1:9999"},)), sc)[0].target
    assert target is not None
    info = TargetInfo(target.job, target.instance, target.scheme, target.discovered_labels)
    parser = Parser()
    proc = SeriesProcessor(target, sc)
    tr = Translator(cfg.agent)
    sink = _Sink()
    client = httpx.Client(headers={"Content-Encoding": "gzip"})
    n_samples = sum(1 for ln in page.splitlines() if ln and not ln.startswith(b"#"))
    print(
        f"python {sys.version.split()[0]}; page {args.page}: {n_samples} samples, "
        f"{len(page) / 1e6:.1f} MB ({len(gz) / 1e6:.1f} MB gzipped); gc={args.gc}"
    )
    if args.gc == "off":
        gc.disable()
    rows: list[dict[str, float]] = []
    extra: dict[str, list[float]] = {"zlib1": [], "gzip6": [], "zstd1": [], "zstd3": []}
    sizes: dict[str, int] = {}
    ts = int(time.time() * 1000)
    try:
        for i in range(args.scrapes + 1):
            ts += 15_000
            row: dict[str, float] = {}
            gc0 = sum(s["collections"] for s in gc.get_stats())
            if args.gc == "pause":
                gc.disable()
            row["decompress"], body = cpu_timer(lambda: inflate(gz))
            row["parse"], result = cpu_timer(lambda b=body: parser.parse(b, "text"))
            del body

            def process(r: Any = result, t: int = ts) -> Any:
                o = proc.process(parser, r, t)
                parser.sweep()
                return o

            row["process"], outcome = cpu_timer(process)
            batch = ScrapeBatch(
                info,
                ts,
                None,
                result.metadata,
                proc.report(ts, True, 1.0, outcome),
                series=outcome.series,
                values=outcome.values,
                timestamps=outcome.timestamps,
                exemplars=outcome.exemplars,
                stale=outcome.stale,
            )
            del result, outcome
            row["translate"], encoded = cpu_timer(lambda b=batch: tr.translate(b))
            del batch
            payloads = [e.payload for e in encoded]
            row["gzip"], bodies = cpu_timer(lambda pl=payloads: [deflate(p) for p in pl])

            def post(bs: list[bytes] = bodies) -> None:
                for b in bs:
                    client.post(sink.url, content=b).raise_for_status()

            row["http"], _ = cpu_timer(post)
            if args.gc == "pause":
                t0 = time.thread_time()
                gc.enable()
                [object() for _ in range(1000)]  # the deferred young collection runs here
                row["http"] += time.thread_time() - t0
            row["gc_runs"] = sum(s["collections"] for s in gc.get_stats()) - gc0
            rows.append(row)
            if i == 0 and args.gc == "freeze":
                gc.freeze()
            if i == 1:
                raw = sum(len(p) for p in payloads)
                sizes["raw"] = raw
                sizes["gzip1"] = sum(len(b) for b in bodies)
                t, z1 = cpu_timer(lambda pl=payloads: [gzip.compress(p, 1, mtime=0) for p in pl])
                extra["zlib1"].append(t)
                sizes["zlib1"] = sum(len(b) for b in z1)
                t, g6 = cpu_timer(lambda pl=payloads: [gzip.compress(p, 6, mtime=0) for p in pl])
                extra["gzip6"].append(t)
                sizes["gzip6"] = sum(len(b) for b in g6)
                if zstandard is not None:
                    for lvl in (1, 3):
                        c = zstandard.ZstdCompressor(level=lvl)
                        t, zs = cpu_timer(lambda c=c, pl=payloads: [c.compress(p) for p in pl])
                        extra[f"zstd{lvl}"].append(t)
                        sizes[f"zstd{lvl}"] = sum(len(b) for b in zs)
            del payloads, bodies, encoded
    finally:
        gc.enable()
        client.close()
        sink.close()

    def us(v: float) -> float:
        return v / n_samples * 1e6

    cold = rows[0]
    warm = {k: statistics.median(r[k] for r in rows[1:]) for k in rows[0]}
    print(f"\n{'stage':<12}{'cold us/sample':>16}{'warm us/sample':>16}{'warm ms/scrape':>16}")
    for k in STAGES:
        print(f"{k:<12}{us(cold[k]):>16.2f}{us(warm[k]):>16.2f}{warm[k] * 1e3:>16.1f}")
    tc = sum(cold[k] for k in STAGES)
    tw = sum(warm[k] for k in STAGES)
    print(f"{'total':<12}{us(tc):>16.2f}{us(tw):>16.2f}{tw * 1e3:>16.1f}")
    print(f"gc collections per scrape: cold {cold['gc_runs']:.0f}, warm {warm['gc_runs']:.0f}")
    print(
        f"caches after {len(rows)} scrapes: parser {len(parser)} series, processor "
        f"{len(proc._cache)}, translator {tr.stats.series_cached}"
    )
    print(f"\nOTLP payload: {sizes['raw'] / 1e6:.1f} MB raw")
    print(f"  gzip 1 ({GZ}): {sizes['gzip1'] / 1e6:6.2f} MB  {us(warm['gzip']):.2f} us/sample")
    print(f"  zlib 1: {sizes['zlib1'] / 1e6:6.2f} MB  {us(extra['zlib1'][0]):.2f} us/sample")
    print(f"  gzip 6: {sizes['gzip6'] / 1e6:6.2f} MB  {us(extra['gzip6'][0]):.2f} us/sample")
    for lvl in (1, 3):
        k = f"zstd{lvl}"
        if k in sizes:
            print(f"  zstd {lvl}: {sizes[k] / 1e6:6.2f} MB  {us(extra[k][0]):.2f} us/sample")
    if "zstd1" not in sizes:
        print("  zstd: zstandard not importable")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
