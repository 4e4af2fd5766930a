"""Command line: ``scrape-agent COMMAND ...``.

Each command lives in the module of the stage it exercises; this file only parses flags and
dispatches (lazily, so ``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from agent import __version__

# command -> (module, help). The module provides ``add_arguments(parser)`` and ``main(args) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("agent.runner", "run the agent: discover, scrape, relabel, translate and export"),
    "demo": ("agent.demo", "run the whole pipeline on local fixtures, no cluster needed"),
    "check-config": ("agent.config.cli", "validate a scrape config (like promtool check config)"),
    "relabel": ("agent.config.cli_relabel", "trace a job's relabel rules on a label set"),
    "check-metrics": (
        "agent.scrape.cli",
        "parse an exposition from stdin (like promtool check metrics)",
    ),
    "check-sd": ("agent.discovery.cli", "run a job's discovery once and print its targets"),
}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="scrape-agent",
        description="Scrape Prometheus targets with your Prometheus YAML and push OTLP metrics.",
    )
    parser.add_argument("--version", action="version", version=f"scrape-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers: dict[str, argparse.ArgumentParser] = {}
    for name, (_module, help_text) in COMMANDS.items():
        subparsers[name] = sub.add_parser(name, help=help_text, description=help_text)
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = build_parser()
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in ("run", "demo"):
        from agent.scrape.memory import limit_malloc_arenas

        # before any thread exists: a thread that allocated before the cap keeps its own
        # arena (measured on KSM: 256-274 MB peak when capped later, 247-248 MB here)
        limit_malloc_arenas()
    if command in COMMANDS:
        module = importlib.import_module(COMMANDS[command][0])
        module.add_arguments(subparsers[command])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(COMMANDS[args.command][0])
    rc: int = module.main(args)
    return rc
