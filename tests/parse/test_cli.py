"""``scrape-agent check-metrics`` as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pages"


def run(data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "check-metrics", *args],
        input=data,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_ok_text_page() -> None:
    out = run((FIXTURES / "edge.prom").read_bytes())
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().strip() == "ok: 22 samples, 10 families"
    assert out.stderr == b""


def test_error_names_the_line() -> None:
    out = run(b'a 1\n# TYPE b gauge\nb{x="1} 2\n')
    assert out.returncode == 1
    err = out.stderr.decode()
    assert err.startswith("error: line 3: ") and "unterminated quote" in err
    assert "Traceback" not in err
    assert out.stdout == b""


def test_openmetrics_strict_and_lenient() -> None:
    page = (FIXTURES / "openmetrics.om").read_bytes()
    out = run(page, "--openmetrics")
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().strip() == "ok: 39 samples, 10 families"
    bad = b"# TYPE a counter\na_total -1\n# EOF\n"
    strict = run(bad, "--openmetrics")
    assert (
        strict.returncode == 1
        and b"line 2: counter-like samples cannot be negative" in strict.stderr
    )
    assert run(bad, "--openmetrics", "--lenient").returncode == 0
    # an OpenMetrics page is not valid text 0.0.4 (# EOF is just a comment there, but
    # float-second timestamps are not)
    assert run(page).returncode == 1


def test_invalid_utf8_and_empty_input() -> None:
    out = run(b'a{b="\xff"} 1\n')
    assert out.returncode == 1 and b"line 1: invalid UTF-8" in out.stderr
    empty = run(b"")
    assert empty.returncode == 0 and empty.stdout.strip() == b"ok: 0 samples, 0 families"


def test_lint() -> None:
    page = (
        b"# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n"
        b"# HELP temp_total Temp.\n# TYPE temp_total gauge\n"
        b'temp_total{sensorId="a",le="1"} 2\nnohelp_sum 3\n'
    )
    out = run(page, "--lint")
    assert out.returncode == 3
    lines = out.stderr.decode().splitlines()
    assert lines == [
        "nohelp_sum no help text",
        'nohelp_sum non-histogram and non-summary metrics should not have "_sum" suffix',
        'requests counter metrics should have "_total" suffix',
        'temp_total non-counter metrics should not have "_total" suffix',
        "temp_total label names should be written in 'snake_case' not 'camelCase'",
        'temp_total non-histogram metrics should not have "le" label',
    ]
    clean = run((FIXTURES / "histograms.prom").read_bytes(), "--lint")
    assert clean.returncode == 0 and clean.stderr == b""
