"""End-to-end benchmark: the real `scrape-agent run` process vs Debian's Prometheus on the same page.

    python bench/agent_bench.py [--page ksm|cadvisor|histograms] [--interval 5] [--scrapes 6]
    (cAdvisor and histogram pages: 16 scrapes every 3 s unless given: CPU comes in 10 ms ticks)
                                [--profile FILE] [--profile-cold FILE] [--env NAME=VALUE ...]
    python bench/agent_bench.py --churn 0.1 [--scrapes 20] [--interval 4]   # agent only

``--profile FILE`` samples the agent with py-spy over the measured window (collapsed stacks
written to FILE, the top functions by own time printed); ``--profile-cold FILE`` does the same
over the first scrape's window (200 Hz), the "cold" figure's breakdown. ``--env`` sets environment variables
of the agent process only (e.g. ``MALLOC_ARENA_MAX=2``). ``--churn F`` runs the agent alone on
a KSM page whose fraction F of pods gets new names and uids after every scrape (a rolling
deployment each interval) and prints, per scrape, the agent's RSS and the translator's cached
series, to show the caches stay bounded.

Both processes scrape the same generated page from a local HTTP server (in this process) at the same
interval, one after the other. The agent pushes OTLP to a local receiver that does not decode. For
each we read the process' CPU time (utime + stime from /proc/PID/stat) over a window after warm-up,
count the scrapes the target server saw from it in that window, and report CPU per scrape, CPU per
sample and peak RSS (VmHWM). Prints both and the ratio. The agent's "cold" figure is the CPU
from its first scrape of the target to its second, per sample (every cache empty; includes
anything else the process did in that interval). Prometheus is installed with apt-get when
missing (root only); otherwise its column says it is absent.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PageServer:
    """Serves one page (pre-gzipped, so serving costs the benchmark process little)."""

    def __init__(self, body: bytes) -> None:
        self.set_page(body)
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                ua = self.headers.get("User-Agent", "").split("/")[0]
                with outer.lock:
                    outer.hits[ua] = outer.hits.get(ua, 0) + 1
                use_gz = "gzip" in self.headers.get("Accept-Encoding", "")
                body, gz = outer.body, outer.gz
                data = gz if use_gz else body
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                if use_gz:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def set_page(self, body: bytes) -> None:
        gz = gzip.compress(body, 1)
        self.body, self.gz = body, gz

    def count(self, ua: str) -> int:
        with self.lock:
            return self.hits.get(ua, 0)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class NullOTLP:
    """Accepts OTLP/HTTP posts without decoding them; counts bytes and requests."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(n)
                outer.requests += 1
                outer.bytes += n
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Result:
    name: str
    scrapes: int
    cpu: float
    samples: int
    rss_mb: float
    cold_cpu: float = float("nan")

    @property
    def us_per_sample(self) -> float:
        return self.cpu / max(1, self.scrapes * self.samples) * 1e6

    @property
    def cold_us_per_sample(self) -> float:
        return self.cold_cpu / max(1, self.samples) * 1e6

    @property
    def ms_per_scrape(self) -> float:
        return self.cpu / max(1, self.scrapes) * 1e3


def wait_scrapes(
    server: PageServer, ua: str, n: int, timeout: float, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout
    while server.count(ua) < n:
        if proc.poll() is not None:
            raise RuntimeError(f"{ua} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{ua}: only {server.count(ua)} of {n} scrapes within {timeout:.0f}s"
            )
        time.sleep(0.05)


def measure(
    name: str,
    ua: str,
    cmd: list[str],
    server: PageServer,
    samples: int,
    interval: float,
    warmup: int,
    scrapes: int,
    profile: str = "",
    env: dict[str, str] | None = None,
    profile_cold: str = "",
) -> Result:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    spy: subprocess.Popen[bytes] | None = None
    try:
        base = server.count(ua)
        wait_scrapes(server, ua, base + 1, interval * 4 + 30, proc)
        cold0 = cpu_seconds(proc.pid)
        if profile_cold:
            spy = start_profile(proc.pid, profile_cold, interval * 0.9, rate=200)
        wait_scrapes(server, ua, base + 2, interval * 4 + 30, proc)
        cold = cpu_seconds(proc.pid) - cold0
        if spy is not None:
            spy.wait(interval * 2 + 30)
            spy = None
            print("  first scrape (cold window):")
            print_profile(profile_cold)
        wait_scrapes(server, ua, base + warmup, interval * (warmup + 3) + 30, proc)
        # let the last warm-up scrape finish its processing, then start the window
        time.sleep(interval / 2)
        c0, n0 = cpu_seconds(proc.pid), server.count(ua)
        if profile:
            spy = start_profile(proc.pid, profile, interval * scrapes, rate=200)
        wait_scrapes(server, ua, n0 + scrapes, interval * (scrapes + 3) + 30, proc)
        time.sleep(interval / 2)
        c1, n1 = cpu_seconds(proc.pid), server.count(ua)
        if spy is not None:
            spy.wait(interval * 2 + 30)
            print_profile(profile)
        return Result(name, n1 - n0, c1 - c0, samples, peak_rss_mb(proc.pid), cold)
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
            spy.wait()
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the agent drains and exits), SIGKILL after 20 s."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_profile(pid: int, out: str, seconds: float, rate: int = 50) -> subprocess.Popen[bytes]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [
            spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds) + 1),
            "-r",
            str(rate),
            "--threads",
            "-f",
            "raw",
            "-o",
            out,
            "--nonblocking",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def print_profile(path: str, top: int = 25) -> None:
    """Top functions by own samples (leaf frames) and by total, from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    n = 0
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        print(f"  (no profile: {path} not written; is py-spy installed?)")
        return
    for line in lines:
        stack, _, cnt = line.rpartition(" ")
        if not cnt.isdigit():
            continue
        c = int(cnt)
        frames = [f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].split(":")[0].rstrip(")")
                  for f in stack.split(";")[1:]]  # fmt: skip
        if not frames:
            continue
        n += c
        own[frames[-1]] = own.get(frames[-1], 0) + c
        for f in set(frames):
            total[f] = total.get(f, 0) + c
    print(f"  py-spy: {n} samples; top by own time (% of samples):")
    for f, c in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {100 * c / max(1, n):5.1f}%  {f}  (total {100 * total[f] / max(1, n):.0f}%)")


def churn_run(args: argparse.Namespace) -> int:
    """Agent only; after every scrape a fraction of pods is renamed; RSS and caches per scrape."""
    from agent.devtools import pages

    gen = 0
    page = pages.ksm_page(churn=args.churn, generation=gen)
    samples = count_samples(page)
    server = PageServer(page)
    sink = NullOTLP()
    tmp = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    port = free_port()
    cfg = tmp / "agent.yml"
    cfg.write_text(
        "scrape_configs:\n"
        f"  - job_name: bench\n    scrape_interval: {args.interval:g}s\n"
        f"    scrape_timeout: {args.interval:g}s\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{server.port}']\n"
        f"scrape_agent:\n  otlp:\n    endpoint: http://127.0.0.1:{sink.port}\n"
    )
    cmd = [sys.executable, "-m", "agent", "run", f"--config.file={cfg}",
           f"--web.listen-address=127.0.0.1:{port}", f"--storage.path={tmp / 'queue'}",
           "--log.level=warn"]  # fmt: skip
    print(
        f"churn: KSM page, {samples} samples, {args.churn:.0%} of pods renamed after every "
        f"scrape; interval {args.interval:g}s, {args.scrapes} scrapes",
        flush=True,
    )
    print(f"{'scrape':>6}{'RSS MB':>9}{'peak MB':>9}{'translator series':>19}{'CPU s':>8}")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=agent_env(args)
    )
    try:
        for i in range(1, args.scrapes + 1):
            wait_scrapes(server, "scrape-agent", i, args.interval * 4 + 30, proc)
            gen += 1
            t_gen = time.monotonic()
            server.set_page(pages.ksm_page(churn=args.churn, generation=gen))
            # the scrape that was just served is being processed: read the figures before
            # the next one
            time.sleep(max(0.0, args.interval * 0.8 - (time.monotonic() - t_gen)))
            series = selfmetric(port, "scrape_agent_translate_series_cached")
            print(
                f"{i:>6}{rss_mb(proc.pid):>9.0f}{peak_rss_mb(proc.pid):>9.0f}{series:>19.0f}"
                f"{cpu_seconds(proc.pid):>8.1f}",
                flush=True,
            )
    finally:
        stop_process(proc)
        server.close()
        sink.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def selfmetric(port: int, name: str) -> float:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return float("nan")
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def agent_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    for kv in args.env:
        k, _, v = kv.partition("=")
        env[k] = v
    return env


def ensure_prometheus() -> str | None:
    path = shutil.which("prometheus")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing Debian's prometheus (apt-get) for the baseline ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "prometheus"],
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    return shutil.which("prometheus")


def make_page(kind: str) -> bytes:
    from agent.devtools import pages

    if kind == "ksm":
        return pages.ksm_page()
    if kind == "cadvisor":
        return pages.cadvisor_page()
    return pages.histogram_page(series=2000)  # ~76k samples, 12 buckets per histogram


def count_samples(page: bytes) -> int:
    return sum(1 for line in page.splitlines() if line and not line.startswith(b"#"))


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--page", default="ksm", choices=["ksm", "cadvisor", "histograms"])
    ap.add_argument("--interval", type=float, help="seconds (default 5; 3 on small pages)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--scrapes", type=int, help="measured scrapes (default 6; 16 on small pages)")
    ap.add_argument("--skip-prometheus", action="store_true")
    ap.add_argument("--profile", default="", help="py-spy collapsed stacks of the agent to FILE")
    ap.add_argument(
        "--profile-cold", default="", help="py-spy of the agent's first-scrape window to FILE"
    )
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for the agent")
    ap.add_argument("--churn", type=float, default=0.0, help="churn mode (agent only)")
    args = ap.parse_args()
    # CPU is read in 10 ms ticks: a small page (cAdvisor, histograms: 15-30 ms per scrape)
    # needs more scrapes in the window for the figure to mean something
    small = args.page != "ksm" and not args.churn
    if args.interval is None:
        args.interval = 3.0 if small else 5.0
    if args.scrapes is None:
        args.scrapes = 16 if small else 6
    if args.churn > 0:
        return churn_run(args)

    page = make_page(args.page)
    samples = count_samples(page)
    print(
        f"page: {args.page}, {samples} samples, {len(page) / 1e6:.1f} MB; interval {args.interval:g}s, "
        f"{args.warmup} warm-up + {args.scrapes} measured scrapes; {os.cpu_count()} CPUs",
        flush=True,
    )
    server = PageServer(page)
    sink = NullOTLP()
    tmp = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    interval = f"{args.interval:g}s"
    results: list[Result] = []
    try:
        rules = (
            "    metric_relabel_configs:\n"
            "      - source_labels: [__name__]\n"
            "        regex: 'kube_pod_container_status_.*_total'\n"
            "        action: drop\n"
            "      - target_label: cluster\n"
            "        replacement: bench\n"
        )
        job = (
            "scrape_configs:\n"
            f"  - job_name: bench\n    scrape_interval: {interval}\n    scrape_timeout: {interval}\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{server.port}']\n" + rules
        )
        agent_cfg = tmp / "agent.yml"
        agent_cfg.write_text(
            job + f"scrape_agent:\n  otlp:\n    endpoint: http://127.0.0.1:{sink.port}\n"
        )
        agent_cmd = [
            sys.executable,
            "-m",
            "agent",
            "run",
            f"--config.file={agent_cfg}",
            f"--web.listen-address=127.0.0.1:{free_port()}",
            f"--storage.path={tmp / 'queue'}",
            "--log.level=warn",
        ]
        print("running scrape-agent ...", flush=True)
        results.append(
            measure(
                "scrape-agent",
                "scrape-agent",
                agent_cmd,
                server,
                samples,
                args.interval,
                args.warmup,
                args.scrapes,
                args.profile,
                agent_env(args),
                args.profile_cold,
            )
        )
        print(f"  OTLP received: {sink.requests} requests, {sink.bytes / 1e6:.1f} MB", flush=True)

        prom = None if args.skip_prometheus else ensure_prometheus()
        if prom:
            prom_cfg = tmp / "prometheus.yml"
            prom_cfg.write_text(job)
            prom_cmd = [
                prom,
                f"--config.file={prom_cfg}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{free_port()}",
                "--log.level=warn",
            ]
            print("running prometheus ...", flush=True)
            results.append(
                measure(
                    "prometheus",
                    "Prometheus",
                    prom_cmd,
                    server,
                    samples,
                    args.interval,
                    args.warmup,
                    args.scrapes,
                )
            )
        elif args.skip_prometheus:
            print("prometheus: skipped (--skip-prometheus) - no baseline")
        else:
            print("prometheus: ABSENT (not installed and could not be installed) - no baseline")
    finally:
        server.close()
        sink.close()
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(
        f"{'process':<14}{'scrapes':>8}{'CPU ms/scrape':>15}{'CPU us/sample':>15}"
        f"{'peak RSS MB':>13}{'cold us/sample':>16}"
    )
    for r in results:
        print(
            f"{r.name:<14}{r.scrapes:>8}{r.ms_per_scrape:>15.1f}{r.us_per_sample:>15.2f}"
            f"{r.rss_mb:>13.0f}{r.cold_us_per_sample:>16.2f}"
        )
    if len(results) == 2:
        a, p = results
        print(
            f"ratio scrape-agent/prometheus: CPU per sample {a.us_per_sample / p.us_per_sample:.2f}x, "
            f"peak RSS {a.rss_mb / p.rss_mb:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
