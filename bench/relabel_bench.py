"""Relabel benchmark: prints figures, asserts nothing.

    python bench/relabel_bench.py [--series 50000]

0. Cold ``process`` (a series seen for the first time), old engine against new in the same run:
   the old engine is the ``relabel`` package of commit ``OLD_COMMIT`` (read with ``git show``
   into a temporary directory and imported under its own module objects); medians of
   ``--reps`` interleaved repetitions, for the brief's two-rule set and the two sets below.
   ``process_in_place`` is the faster entry point (no copy, no sort; the caller sorts).
1. Per-series cost of metric relabelling over ~50k kube-state-metrics-like label sets with a
   realistic rule set (the metric_relabel_configs of shared/examples/signoz-ksm-cadvisor.yaml
   plus a labelmap/labeldrop set): cold (``process`` on a dict), ``Relabeler`` first sight
   (miss), ``Relabeler`` hit (the steady state: every scrape after the first).
2. Regex engines for typical anchored patterns: Python ``re`` fullmatch, ``re2`` (public API),
   and ``GoRegex`` (what the engine uses: ``re`` when provably equivalent, else RE2's C++
   object directly), without and with its per-regex memo of recent inputs.
3. A hostile regex, ``(a+)+$`` on a long non-matching string: RE2 stays linear, a backtracking
   engine does not.
"""

from __future__ import annotations

import argparse
import importlib
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import re2
import yaml

import relabel
from relabel._regex import GoRegex

OLD_COMMIT = "b116552"  # the engine before the compiled rules (relabel/_compiled.py)
REPO = Path(__file__).resolve().parents[1]
EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "examples" / "signoz-ksm-cadvisor.yaml"

# Used when ../shared is absent: the same rules as the example's two jobs.
FALLBACK_RULES: list[dict[str, Any]] = [
    {
        "source_labels": ["__name__"],
        "regex": "kube_pod_container_status_.*_total",
        "action": "drop",
    },
    {"target_label": "cluster", "replacement": "local-multipass"},
    {
        "source_labels": ["__name__"],
        "regex": "container_(cpu|memory|network|fs)_.*",
        "action": "keep",
    },
    {
        "source_labels": ["namespace"],
        "regex": "(default|otel-demo|observability)",
        "action": "keep",
    },
]

EXTRA_RULES: list[dict[str, Any]] = [
    {"regex": "label_(.+)", "replacement": "k8s_$1", "action": "labelmap"},
    {"regex": "uid|label_.*|container_id", "action": "labeldrop"},
    {"source_labels": ["namespace", "pod"], "separator": "/", "target_label": "workload"},
]

METRICS = [
    "kube_pod_info",
    "kube_pod_status_phase",
    "kube_pod_status_ready",
    "kube_pod_container_info",
    "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_running",
    "kube_pod_container_resource_requests",
    "kube_pod_container_resource_limits",
    "kube_pod_labels",
    "kube_pod_owner",
    "kube_deployment_status_replicas",
    "kube_replicaset_owner",
    "kube_node_status_condition",
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "container_network_receive_bytes_total",
    "container_fs_usage_bytes",
    "go_gc_duration_seconds",
]


# The brief's rule set: a kube-state-metrics first scrape with just these two rules.
KSM_TWO_RULES: list[dict[str, Any]] = [
    {
        "source_labels": ["__name__"],
        "regex": "kube_pod_container_status_.*_total",
        "action": "drop",
    },
    {"target_label": "cluster", "replacement": "bench"},
]


def load_old_engine() -> Any:
    """The ``relabel`` package of OLD_COMMIT as a module object, or None (no git history).

    Its files go to a temporary directory that is imported first, then its modules are taken
    out of ``sys.modules`` so that ``import relabel`` afterwards gets this worktree's copy; the
    old modules keep their references to each other."""
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "--name-only", OLD_COMMIT, "relabel/"],
        capture_output=True,
        text=True,
        check=False,
    )
    if files.returncode != 0 or not files.stdout.strip():
        return None
    with tempfile.TemporaryDirectory(prefix="relabel-old-") as d:
        tmp = Path(d)
        (tmp / "relabel").mkdir()
        for path in files.stdout.split():
            text = subprocess.run(
                ["git", "-C", str(REPO), "show", f"{OLD_COMMIT}:{path}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            (tmp / path).write_text(text)
        saved = {k: v for k, v in sys.modules.items() if k == "relabel" or k.startswith("relabel.")}
        for k in saved:
            del sys.modules[k]
        sys.path.insert(0, d)
        try:
            old = importlib.import_module("relabel")
        finally:
            sys.path.remove(d)
            for k in [k for k in sys.modules if k == "relabel" or k.startswith("relabel.")]:
                del sys.modules[k]
            sys.modules.update(saved)
    return old


def bench_cold_ab(old: Any, sets: dict[str, list[dict[str, Any]]], n: int, reps: int) -> None:
    series = ksm_series(n)
    print(f"\ncold process, us/series (median of {reps}, {n} series, old = {OLD_COMMIT})")
    print(f"  {'rule set':28} {'old':>7} {'new':>7} {'in_place':>9}   same results")
    print(f"  {'':28} {'process':>7} {'process':>7} {'(+copy)':>9}")
    for name, raw in sets.items():
        new_rules = relabel.parse(raw)
        old_rules = old.parse(raw) if old is not None else None
        times: dict[str, list[float]] = {"old": [], "new": [], "in_place": []}
        for _ in range(reps):
            if old_rules is not None:
                old_process = old.process
                t0 = time.perf_counter()
                for s in series:
                    old_process(s, old_rules)
                times["old"].append((time.perf_counter() - t0) / n * 1e6)
            process = relabel.process
            t0 = time.perf_counter()
            for s in series:
                process(s, new_rules)
            times["new"].append((time.perf_counter() - t0) / n * 1e6)
            # the caller's fresh dict, as the agent has it (the copy is timed: ~0.1 us)
            in_place = relabel.process_in_place
            t0 = time.perf_counter()
            for s in series:
                in_place(dict(s), new_rules)
            times["in_place"].append((time.perf_counter() - t0) / n * 1e6)
        want = [relabel.process(s, new_rules) for s in series]
        got = [relabel.process_in_place(dict(s), new_rules) for s in series]
        same = want == got  # (dict equality ignores the order)
        if old_rules is not None:
            same = same and want == [old.process(s, old_rules) for s in series]
        med = {k: statistics.median(v) if v else float("nan") for k, v in times.items()}
        print(
            f"  {name:28} {med['old']:7.2f} {med['new']:7.2f} {med['in_place']:9.2f}   "
            f"{'yes' if same else 'NO'}"
        )


def load_rule_sets() -> dict[str, list[dict[str, Any]]]:
    """job name -> its metric_relabel_configs from the example, plus the extra set."""
    if not EXAMPLE.exists():
        print(f"(note: {EXAMPLE} not found; using the built-in copy of its rules)")
        return {
            "kube-state-metrics": FALLBACK_RULES[:2] + EXTRA_RULES,
            "kubelet-cadvisor": FALLBACK_RULES[2:] + EXTRA_RULES,
        }
    doc = yaml.safe_load(EXAMPLE.read_text())
    return {
        sc["job_name"]: list(sc.get("metric_relabel_configs") or []) + EXTRA_RULES
        for sc in doc["scrape_configs"]
    }


def ksm_series(n: int, seed: int = 1) -> list[dict[str, str]]:
    rnd = random.Random(seed)
    namespaces = ["default", "kube-system", "observability", "otel-demo", "payments", "search"]
    out = []
    for i in range(n):
        ns = rnd.choice(namespaces)
        pod = f"app-{i % 4000:04d}-{rnd.randrange(16**5):05x}"
        lbls = {
            "__name__": rnd.choice(METRICS),
            "job": "kube-state-metrics",
            "instance": "kube-state-metrics.observability.svc.cluster.local:8080",
            "namespace": ns,
            "pod": pod,
            "uid": f"{rnd.getrandbits(128):032x}",
            "container": rnd.choice(["app", "sidecar", "istio-proxy"]),
            "node": f"node-{rnd.randrange(40)}",
        }
        if rnd.random() < 0.3:
            lbls["label_app_kubernetes_io_name"] = pod.split("-")[0]
            lbls["label_team"] = rnd.choice(["core", "data", "web"])
        if lbls["__name__"].endswith("_phase"):
            lbls["phase"] = rnd.choice(["Running", "Pending", "Succeeded"])
        out.append(lbls)
    return out


def per_call_us(fn: Callable[[str], object], arg: str, number: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(number):
            fn(arg)
        best = min(best, time.perf_counter() - t0)
    return best / number * 1e6


def bench_series(name: str, raw_rules: list[dict[str, Any]], n: int) -> None:
    rules = relabel.parse(raw_rules)
    series = ksm_series(n)
    canon = [tuple(sorted(s.items())) for s in series]
    print(f"\njob {name}: {len(rules)} rules ({', '.join(r.action for r in rules)})")
    print(
        f"series: {len(series)} kube-state-metrics-like label sets, ~{sum(map(len, series)) / len(series):.1f} labels each"
    )

    t0 = time.perf_counter()
    kept = sum(1 for s in series if relabel.process(s, rules) is not None)
    cold = (time.perf_counter() - t0) / n * 1e6
    print(
        f"  process (cold, dict in/out)        {cold:7.2f} us/series   ({kept} kept, {n - kept} dropped)"
    )

    r = relabel.Relabeler(rules)
    t0 = time.perf_counter()
    for c in canon:
        r.apply(c)
    miss = (time.perf_counter() - t0) / n * 1e6
    print(f"  Relabeler first sight (miss)       {miss:7.2f} us/series")
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for c in canon:
            r.apply(c)
        best = min(best, time.perf_counter() - t0)
    print(f"  Relabeler hit (steady state)       {best / n * 1e6:7.2f} us/series")
    r.sweep()
    t0 = time.perf_counter()
    for c in canon:
        r.apply(c)
    print(
        f"  Relabeler after sweep (promote)    {(time.perf_counter() - t0) / n * 1e6:7.2f} us/series"
    )
    noop = relabel.Relabeler([])
    t0 = time.perf_counter()
    for c in canon:
        noop.apply(c)
    print(
        f"  Relabeler with no rules            {(time.perf_counter() - t0) / n * 1e6:7.2f} us/series"
    )
    # what the hit costs is mostly hashing the tuple: compare with a bare dict lookup
    d = {c: c for c in canon}
    t0 = time.perf_counter()
    for c in canon:
        d.get(c)
    print(
        f"  (bare dict lookup of the tuple     {(time.perf_counter() - t0) / n * 1e6:7.2f} us/series)"
    )


def bench_regex() -> None:
    opts: Any = re2.Options()
    opts.log_errors = False
    cases = [
        ("kube_pod_.*", "kube_pod_container_status_restarts_total"),
        ("kube_pod_container_status_.*_total", "kube_pod_container_status_restarts_total"),
        ("go_.*|process_.*|promhttp_.*", "kube_deployment_status_replicas"),
        ("container_(cpu|memory|network|fs)_.*", "container_memory_working_set_bytes"),
        ("(default|otel-demo|observability)", "observability"),
        ("(.+);(.+)", "payments;app-0042-1f2e3"),
        ("(.*)", "some-value"),
        ("(?i)KUBE_.*", "kube_pod_info"),
        ("\\pL+_.*", "kube_pod_info"),
    ]
    print(
        "\nregex fullmatch, us/call               python-re   re2(api)   GoRegex   GoRegex\n"
        "                                                            (no memo) (memo hit)"
    )
    for pattern, subject in cases:
        gr = GoRegex(pattern)
        n = 100_000
        try:
            py: Any = re.compile("(?s:" + pattern + ")", re.ASCII)
            t_re = per_call_us(py.fullmatch, subject, n)
            s_re = f"{t_re:9.3f}"
        except re.error:
            s_re = "      n/a"
        r2: Any = re2.compile("^(?s:" + pattern + ")$", opts)
        t_re2 = per_call_us(r2.fullmatch, subject, n)
        t_raw = per_call_us(gr.uncached_match, subject, n)
        t_go = per_call_us(gr.match, subject, n)
        print(f"  {pattern:36.36} {s_re} {t_re2:10.3f} {t_raw:9.3f} {t_go:9.3f}  ({gr.engine})")


def bench_hostile() -> None:
    print("\nhostile regex (a+)+$ on 'a'*N + 'b' (no match)")
    gr = GoRegex("(a+)+$")
    for n in (1_000, 100_000, 1_000_000):
        s = "a" * n + "b"
        t0 = time.perf_counter()
        gr.match(s)
        print(f"  GoRegex (re2)  N={n:>9,}: {(time.perf_counter() - t0) * 1e3:9.2f} ms")
    py = re.compile("(?:(a+)+$)")
    for n in (18, 20, 22):
        s = "a" * n + "b"
        t0 = time.perf_counter()
        py.fullmatch(s)
        print(
            f"  python re      N={n:>9,}: {(time.perf_counter() - t0) * 1e3:9.2f} ms   (exponential)"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--series", type=int, default=50_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cold-only", action="store_true", help="only the old/new cold A/B")
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}")
    old = load_old_engine()
    if old is None:
        print(f"(note: git history unavailable, no old engine ({OLD_COMMIT}) to compare with)")
    sets = {"ksm 2 rules (drop, replace)": KSM_TWO_RULES}
    sets.update(load_rule_sets())
    bench_cold_ab(old, sets, args.series, args.reps)
    if args.cold_only:
        return 0
    for name, raw_rules in load_rule_sets().items():
        bench_series(name, raw_rules, args.series)
    bench_regex()
    bench_hostile()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
