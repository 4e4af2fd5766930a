"""Coverage-guided fuzzing of the scrape processing path with atheris (optional, not a test and
not a dependency: ``pip install --target /tmp/atheris-pkg atheris``)::

    PYTHONPATH=/tmp/atheris-pkg python tests/reliability/atheris_fuzz.py -runs=200000

Each input is one response body (first byte picks text or OpenMetrics) fed to
``ScrapeLoop._process``: parse -> target labels, metric relabelling, limits, staleness. A
``ParseError`` with a line number is the expected failure; any other exception is a crash
(atheris stops and prints the input), and so is a parse error without a line number.
Seeds: the pages under fixtures/pages.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from agent.config import ScrapeConfig
    from agent.model import TargetGroup
    from agent.scrape.loop import JobStats, ScrapeLoop
    from agent.scrape.parse import ParseError
    from agent.scrape.targets import build_targets

CFG = ScrapeConfig(job_name="fuzz", scrape_interval=60.0, scrape_timeout=10.0, sample_limit=5000)
_target = build_targets(TargetGroup("0", ({"__address__": "127.0.0.1:1"},)), CFG)[0].target
assert _target is not None
LOOP = ScrapeLoop(_target, CFG, None, lambda b: None, JobStats())  # type: ignore[arg-type]
TYPES = ["text/plain; version=0.0.4", "application/openmetrics-text; version=1.0.0"]


def one(data: bytes) -> None:
    if not data:
        return
    ctype = TYPES[data[0] & 1]
    try:
        LOOP._process(data[1:], ctype, 1_700_000_000_000)
    except ParseError as e:
        if not str(e).startswith("line "):
            raise AssertionError(f"parse error without a line number: {e}") from None


def main() -> None:
    seeds = Path(__file__).resolve().parents[2] / "fixtures" / "pages"
    corpus = Path("/tmp/atheris-corpus")
    corpus.mkdir(exist_ok=True)
    for i, p in enumerate(sorted(seeds.iterdir())):
        head = b"".join(p.read_bytes().splitlines(keepends=True)[:80])
        (corpus / f"seed{i}").write_bytes(bytes([i & 1]) + head)
    atheris.Setup([*sys.argv, str(corpus)], one)
    atheris.Fuzz()  # libFuzzer prints the run count, coverage and RSS


if __name__ == "__main__":
    main()
