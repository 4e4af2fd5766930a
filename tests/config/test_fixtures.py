"""Table-driven: every fixtures/config/good file loads, every bad file fails with its `# expect:`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.config import ConfigError, load

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "config"
GOOD = sorted((FIXTURES / "good").glob("*.yaml"))
BAD = sorted((FIXTURES / "bad").glob("*.yaml"))
ENV = {"NODE_NAME": "node-a", "CLUSTER_NAME": "prod", "SIGNOZ_KEY": "k"}


def expectation(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    m = re.match(r"^# expect: (.+)$", first)
    assert m, f"{path.name} must start with '# expect: <substring>'"
    return m.group(1)


def test_fixture_sets_are_not_empty() -> None:
    assert len(GOOD) >= 8
    assert len(BAD) >= 40


@pytest.mark.parametrize("path", GOOD, ids=[p.name for p in GOOD])
def test_good(path: Path) -> None:
    cfg = load(str(path), env=ENV)
    assert cfg.source_path == str(path)
    for sc in cfg.scrape_configs:
        assert sc.job_name
        assert 0 < sc.scrape_timeout <= sc.scrape_interval


@pytest.mark.parametrize("path", BAD, ids=[p.name for p in BAD])
def test_bad(path: Path) -> None:
    want = expectation(path)
    with pytest.raises(ConfigError) as info:
        load(str(path), env=ENV)
    errors = info.value.errors
    assert errors, "ConfigError without errors"
    assert any(want in e for e in errors), f"want {want!r} in {errors}"
    for e in errors:
        # every message names the file (this one or a file it includes) and a line
        assert re.match(rf"^{re.escape(str(path.parent))}/\S+:\d+: ", e), e
        assert "Traceback" not in e
