"""``scrape-agent relabel --config.file=PATH --job=NAME [--metric] LABEL=VALUE...``

Traces a job's ``relabel_configs`` (or ``metric_relabel_configs`` with ``--metric``) rule by rule on
the given label set: which rule matched, which labels it added (+), removed (-) or changed (~), and
the result or the rule that dropped it.

For target relabelling the labels Prometheus sets before ``relabel_configs`` are added first where
missing or empty (``job``, ``__scheme__``, ``__metrics_path__``, ``__scrape_interval__``,
``__scrape_timeout__``, ``__param_<name>``), and the final target labels are shown as Prometheus
builds them (``__meta_*`` and other ``__`` labels removed, ``instance`` defaulting to
``__address__``), with the scrape URL.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from urllib.parse import urlencode

import relabel
from agent.config._load import ConfigError, load
from agent.config._types import ScrapeConfig
from agent.config._units import format_duration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config.file", dest="config_file", required=True, metavar="PATH", help="config file"
    )
    parser.add_argument(
        "--job", required=True, metavar="NAME", help="job_name of the scrape config"
    )
    parser.add_argument(
        "--metric",
        action="store_true",
        help="trace metric_relabel_configs on a series' labels instead of relabel_configs on a target",
    )
    parser.add_argument(
        "labels",
        nargs="*",
        metavar="LABEL=VALUE",
        help="input labels, e.g. __address__=10.0.0.1:9100 __meta_kubernetes_pod_name=web-0",
    )


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def parse_label_args(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"label argument {item!r} is not of the form LABEL=VALUE")
        if name in out:
            raise ValueError(f"label {name!r} given twice")
        out[name] = value
    return out


def prometheus_defaults(
    labels: Mapping[str, str], sc: ScrapeConfig
) -> tuple[dict[str, str], list[str]]:
    """The labels Prometheus sets before relabel_configs (where missing or empty), and their names."""
    out = dict(labels)
    added: list[str] = []
    defaults = {
        "job": sc.job_name,
        "__scrape_interval__": format_duration(sc.scrape_interval),
        "__scrape_timeout__": format_duration(sc.scrape_timeout),
        "__metrics_path__": sc.metrics_path,
        "__scheme__": sc.scheme,
    }
    for k, values in sc.params.items():
        if values:
            defaults[f"__param_{k}"] = values[0]
    for k, v in defaults.items():
        if not out.get(k):
            out[k] = v
            added.append(k)
    return out, added


def _diff(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    lines = []
    for k in sorted(set(before) | set(after)):
        b, a = before.get(k), after.get(k)
        if b == a:
            continue
        if b is None:
            lines.append(f"+ {k}={_q(a or '')}")
        elif a is None:
            lines.append(f"- {k}={_q(b)}")
        else:
            lines.append(f"~ {k}: {_q(b)} -> {_q(a)}")
    return lines


def _print_labels(out: list[str], labels: Mapping[str, str], indent: str = "  ") -> None:
    if not labels:
        out.append(f"{indent}(none)")
    for k in sorted(labels):
        out.append(f"{indent}{k}={_q(labels[k])}")


def final_target(
    labels: Mapping[str, str], sc: ScrapeConfig
) -> tuple[dict[str, str] | None, str, str]:
    """(target labels, scrape URL, error) as Prometheus' PopulateLabels builds them."""
    addr = labels.get("__address__", "")
    if not addr:
        return None, "", "no address (the target would be dropped with an error)"
    if "/" in addr:
        return (
            None,
            "",
            f'"{addr}" is not a valid hostname (the target would be dropped with an error)',
        )
    result = {k: v for k, v in labels.items() if not k.startswith("__meta_")}
    if not result.get("instance"):
        result["instance"] = addr
    params: dict[str, list[str]] = {k: list(v) for k, v in sc.params.items()}
    for k, v in labels.items():
        if k.startswith("__param_"):
            name = k[len("__param_") :]
            rest = params.get(name, [])[1:]
            params[name] = [v, *rest]
    query = urlencode([(k, v) for k, vs in params.items() for v in vs])
    scheme = labels.get("__scheme__", sc.scheme)
    path = labels.get("__metrics_path__", sc.metrics_path)
    url = f"{scheme}://{addr}{path}" + (f"?{query}" if query else "")
    visible = {k: v for k, v in result.items() if not k.startswith("__")}
    return visible, url, ""


def main(args: argparse.Namespace) -> int:
    try:
        cfg = load(args.config_file)
    except ConfigError as exc:
        print(f"{args.config_file}: config FAILED:", file=sys.stderr)
        for err in exc.errors:
            print(f"  {err}", file=sys.stderr)
        return 1
    sc = cfg.job(args.job)
    if sc is None:
        jobs = ", ".join(s.job_name for s in cfg.scrape_configs) or "none"
        print(f'error: no job "{args.job}" in {args.config_file} (jobs: {jobs})', file=sys.stderr)
        return 1
    try:
        labels = parse_label_args(args.labels)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    out: list[str] = []
    if args.metric:
        rules = sc.metric_relabel_configs
        kind = "metric_relabel_configs"
        start = labels
        out.append(f'job "{sc.job_name}": {len(rules)} {kind}')
        out.append("input labels:")
        _print_labels(out, start)
    else:
        rules = sc.relabel_configs
        kind = "relabel_configs"
        start, added = prometheus_defaults(labels, sc)
        out.append(f'job "{sc.job_name}": {len(rules)} {kind}')
        out.append("input labels:")
        _print_labels(out, start)
        if added:
            out.append(f"  (added by the scrape config before relabelling: {', '.join(added)})")
    out.append("")

    result, steps = relabel.process_trace(start, rules)
    dropped_at: int | None = None
    for step in steps:
        mark = "matched" if step.matched else "no match"
        out.append(f"[{step.index}] {step.rule.describe()}")
        out.append(f"    {mark}: {step.note}")
        if step.after is None:
            dropped_at = step.index
            out.append("    -> DROPPED")
            break
        for d in _diff(step.before, step.after):
            out.append(f"    {d}")
    if not rules:
        out.append(f"(no {kind})")
    out.append("")

    if result is None:
        what = "series" if args.metric else "target"
        at = f" by rule [{dropped_at}]" if dropped_at is not None else ""
        out.append(f"result: the {what} is dropped{at}")
    elif args.metric:
        out.append("result labels:")
        _print_labels(out, result)
    else:
        out.append("labels after relabel_configs:")
        _print_labels(out, result)
        target, url, err = final_target(result, sc)
        if target is None:
            out.append(f"result: {err}")
        else:
            out.append("target labels (attached to every scraped series):")
            _print_labels(out, target)
            out.append(f"scrape URL: {url}")
    print("\n".join(out))
    return 0
