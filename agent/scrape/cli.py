"""``scrape-agent check-metrics``: parse an exposition from stdin, like ``promtool check metrics``.

Exit 0 and ``ok: N samples, M families`` when it parses; exit 1 with the line-numbered error on
stderr otherwise. ``--openmetrics`` parses OpenMetrics 1.0 and checks the specification's
family rules too (``--lenient`` accepts what a Prometheus scrape accepts).
"""

from __future__ import annotations

import argparse
import sys

from agent.scrape.parse import ParseError, Parser


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
    families = set(result.metadata)
    for series in {s[0] for s in result.samples}:
        name = parser.series_labels(series)[0]
        if (
            name not in families
            and not any(
                name == f + suffix
                for suffix in (
                    "_total",
                    "_created",
                    "_bucket",
                    "_count",
                    "_sum",
                    "_gcount",
                    "_gsum",
                    "_info",
                )  # fmt: skip
                for f in (name[: len(name) - len(suffix)],)
                if name.endswith(suffix) and f in families
            )
        ):
            families.add(name)
    print(f"ok: {len(result.samples)} samples, {len(families)} families")
    return 0
