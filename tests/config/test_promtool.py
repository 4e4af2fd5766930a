"""Oracle: Debian's promtool (Prometheus 2.42) must agree with us on every fixture.

Good fixtures must pass ``promtool check config --syntax-only``, bad ones must fail it, except
fixtures marked ``# promtool: skip <reason>`` (the agent section, the collector form, Prometheus 3
features, SD types Debian's build lacks, and things we reject on purpose that Prometheus accepts).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "config"
PROMTOOL = shutil.which("promtool") or (
    "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
)

CASES = [(p, True) for p in sorted((FIXTURES / "good").glob("*.yaml"))] + [
    (p, False) for p in sorted((FIXTURES / "bad").glob("*.yaml"))
]


def skip_reason(path: Path) -> str | None:
    for line in path.read_text(encoding="utf-8").splitlines()[:3]:
        m = re.match(r"^# promtool: skip (.+)$", line)
        if m:
            return m.group(1)
    return None


@pytest.mark.parametrize(
    ("path", "good"), CASES, ids=[f"{'good' if g else 'bad'}/{p.name}" for p, g in CASES]
)
def test_promtool_agrees(path: Path, good: bool) -> None:
    if PROMTOOL is None:
        pytest.skip("promtool is not installed")
    reason = skip_reason(path)
    if reason:
        pytest.skip(f"documented difference: {reason}")
    proc = subprocess.run(
        [PROMTOOL, "check", "config", "--syntax-only", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if good:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:
        assert proc.returncode != 0, f"promtool accepted {path.name}:\n{proc.stdout}"


def test_some_fixtures_are_checked_by_promtool() -> None:
    checked = [p for p, _ in CASES if skip_reason(p) is None]
    assert len(checked) >= 30
