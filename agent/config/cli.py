"""``scrape-agent check-config PATH [PATH...]``: validate configs like ``promtool check config``.

Exit 0 and one summary line per file (``config OK: 3 jobs (a, b, c), 7 relabel rules``), warnings on
stderr; exit 1 with every error on stderr, each naming the file, line and YAML path.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys

import yaml

from agent.config._load import ConfigError, load, redacted
from agent.config._types import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="config file(s) to check")
    parser.add_argument(
        "--print",
        dest="print_config",
        action="store_true",
        help="also print the loaded config as YAML, secrets replaced by <secret>",
    )
    parser.add_argument(
        "--no-warnings", action="store_true", help="do not print warnings (ignored options)"
    )


def summary(cfg: Config) -> str:
    jobs = [sc.job_name for sc in cfg.scrape_configs]
    rules = sum(
        len(sc.relabel_configs) + len(sc.metric_relabel_configs) for sc in cfg.scrape_configs
    )
    names = f" ({', '.join(jobs)})" if jobs else ""
    return (
        f"config OK: {len(jobs)} job{'s' if len(jobs) != 1 else ''}{names}, "
        f"{rules} relabel rule{'s' if rules != 1 else ''}"
    )


def file_sd_notes(cfg: Config) -> list[str]:
    """file_sd_configs patterns that match no file yet (a typo, or files not mounted here)."""
    notes = []
    for sc in cfg.scrape_configs:
        for i, fsd in enumerate(sc.file_sd_configs):
            for pattern in fsd.files:
                full = pattern if os.path.isabs(pattern) else os.path.join(fsd.base_dir, pattern)
                if not glob.glob(full):
                    notes.append(
                        f'job "{sc.job_name}": file_sd_configs[{i}]: "{pattern}" matches no file '
                        f"(looked for {full})"
                    )
    return notes


def main(args: argparse.Namespace) -> int:
    rc = 0
    several = len(args.paths) > 1
    for path in args.paths:
        try:
            cfg = load(path)
        except ConfigError as exc:
            rc = 1
            n = len(exc.errors)
            print(f"{path}: config FAILED: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
            for err in exc.errors:
                print(f"  {err}", file=sys.stderr)
            continue
        if not args.no_warnings:
            for w in (*cfg.warnings, *file_sd_notes(cfg)):
                print(f"warning: {w}", file=sys.stderr)
        line = summary(cfg)
        print(f"{path}: {line}" if several else line)
        if args.print_config:
            sys.stdout.write(yaml.safe_dump(redacted(cfg), sort_keys=False, allow_unicode=True))
    return rc
