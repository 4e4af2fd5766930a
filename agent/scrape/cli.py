"""``scrape-agent check-metrics``: parse an exposition from stdin, like ``promtool check metrics``.

Exit 0 and ``ok: N samples, M families`` when it parses; exit 1 with the line-numbered error on
stderr otherwise. ``--openmetrics`` parses OpenMetrics 1.0 and checks the specification's
family rules too (``--lenient`` accepts what a Prometheus scrape accepts). ``--lint`` also
reports naming problems as promtool's linter does (``<metric> <problem>`` lines on stderr) and
then exits 3 when there are any.
"""

from __future__ import annotations

import argparse
import re
import sys

from agent.model import MetricMeta
from agent.scrape.parse import ParseError, Parser, ParseResult

LINT_EXIT = 3
_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info")
_CAMEL = re.compile(r"[a-z][A-Z]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--openmetrics",
        action="store_true",
        help="the input is OpenMetrics 1.0 (default: Prometheus text 0.0.4)",
    )
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="with --openmetrics: accept what Prometheus' scraper accepts, "
        "without the OpenMetrics family checks",
    )
    parser.add_argument(
        "--lint",
        action="store_true",
        help="also report naming problems (like promtool's linter); exit 3 if any",
    )


def _family_of(name: str, metadata: dict[str, MetricMeta]) -> str:
    if name in metadata:
        return name
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in metadata:
            return name[: -len(suffix)]
    return name


def families(parser: Parser, result: ParseResult) -> dict[str, set[str]]:
    """Family name -> sample names seen in it."""
    out: dict[str, set[str]] = {k: set() for k in result.metadata}
    for series in {s[0] for s in result.samples}:
        name = parser.series_labels(series)[0]
        out.setdefault(_family_of(name, result.metadata), set()).add(name)
    return out


def lint(parser: Parser, result: ParseResult, openmetrics: bool) -> list[tuple[str, str]]:
    """Problems as (metric family, text), in the spirit of client_golang's promlint."""
    problems: list[tuple[str, str]] = []
    fams = families(parser, result)
    for fam in sorted(fams):
        meta = result.metadata.get(fam, MetricMeta())
        typ = meta.type
        if not meta.help:
            problems.append((fam, "no help text"))
        if typ == "counter" and not openmetrics and not fam.endswith("_total"):
            problems.append((fam, 'counter metrics should have "_total" suffix'))
        if typ != "counter" and fam.endswith("_total"):
            problems.append((fam, 'non-counter metrics should not have "_total" suffix'))
        if typ not in ("histogram", "summary", "gaugehistogram"):
            for suffix in ("_count", "_sum", "_bucket"):
                if fam.endswith(suffix):
                    problems.append(
                        (
                            fam,
                            f'non-histogram and non-summary metrics should not have "{suffix}" '
                            "suffix",
                        )  # fmt: skip
                    )
        if _CAMEL.search(fam):
            problems.append((fam, "metric names should be written in 'snake_case' not 'camelCase'"))
        if ":" in fam:
            problems.append((fam, "metric names should not contain ':'"))
    seen: set[tuple[str, str]] = set()
    for series, *_ in result.samples:
        name, labels = parser.series_labels(series)
        fam = _family_of(name, result.metadata)
        typ = result.metadata.get(fam, MetricMeta()).type
        for label, _value in labels:
            if (fam, label) in seen:
                continue
            seen.add((fam, label))
            if _CAMEL.search(label):
                problems.append(
                    (fam, "label names should be written in 'snake_case' not 'camelCase'")
                )
            if label == "le" and typ not in ("histogram", "gaugehistogram"):
                problems.append((fam, 'non-histogram metrics should not have "le" label'))
            if label == "quantile" and typ != "summary":
                problems.append((fam, 'non-summary metrics should not have "quantile" label'))
    return list(dict.fromkeys(problems))


def main(args: argparse.Namespace) -> int:
    data = sys.stdin.buffer.read()
    openmetrics = bool(getattr(args, "openmetrics", False))
    strict = openmetrics and not getattr(args, "lenient", False)
    parser = Parser(strict=strict)
    try:
        result = parser.parse(data, "openmetrics" if openmetrics else "text")
    except ParseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"ok: {len(result.samples)} samples, {len(families(parser, result))} families")
    if getattr(args, "lint", False):
        problems = lint(parser, result, openmetrics)
        for fam, text in problems:
            print(f"{fam} {text}", file=sys.stderr)
        if problems:
            return LINT_EXIT
    return 0
