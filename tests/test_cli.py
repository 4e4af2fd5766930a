from __future__ import annotations

import subprocess
import sys

from agent import __version__


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "agent", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"scrape-agent {__version__}"


def test_help_lists_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "agent", "--help"], capture_output=True, text=True, check=True
    )
    for cmd in ("run", "demo", "check-config", "relabel", "check-metrics", "check-sd"):
        assert cmd in out.stdout
