"""Robustness: any bytes give a ParseResult or a ParseError - never another exception, never a
hang, never a partial result."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.scrape.parse import ParseError, Parser, ParseResult

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pages"


def _head(name: str, lines: int) -> bytes:
    return b"".join((FIXTURES / name).read_bytes().splitlines(keepends=True)[:lines])


SEEDS = [
    _head("ksm.prom", 60),
    _head("cadvisor.prom", 60),
    _head("histograms.prom", 60),
    (FIXTURES / "edge.prom").read_bytes(),
    (FIXTURES / "openmetrics.om").read_bytes(),
]
FORMATS = ["text", "openmetrics"]
ALPHABET = b' \t\n{}",=#\\\x00\xff_:.+-0123456789eEaInNfF'


def check(data: bytes) -> None:
    for fmt in FORMATS:
        for strict in (False, True):
            try:
                r = Parser(strict=strict).parse(data, fmt)
            except ParseError as e:
                assert e.lineno >= 0 and str(e)
                continue
            assert isinstance(r, ParseResult)
            for series, value, ts, _ex in r.samples:
                assert isinstance(series, str) and isinstance(value, float)
                assert ts is None or isinstance(ts, int)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 2))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        chunk = bytes(draw(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=4)))
        if op == 0:
            data[pos:pos] = chunk
        elif op == 1:
            del data[pos : pos + len(chunk)]
        else:
            data[pos : pos + len(chunk)] = chunk
    return bytes(data)


_SETTINGS = settings(
    max_examples=600, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)


@_SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    check(data)


@_SETTINGS
@given(st.lists(st.sampled_from(ALPHABET), max_size=200).map(bytes))
def test_random_exposition_alphabet(data: bytes) -> None:
    check(data)


@_SETTINGS
@given(mutated())
def test_mutated_pages(data: bytes) -> None:
    check(data)


def test_mutated_cached_series() -> None:
    """A parser that has cached a page must still reject the broken variants of it."""
    page = _head("ksm.prom", 80)
    p = Parser()
    good = p.parse(page, "text")
    lines = page.split(b"\n")
    broken = 0
    for i, line in enumerate(lines):
        if not line or line.startswith(b"#"):
            continue
        for bad in (line + b" x", line + b"_", line.replace(b"} ", b"}  1 ", 1) + b" 2"):
            variant = b"\n".join(lines[:i] + [bad] + lines[i + 1 :])
            try:
                p.parse(variant, "text")
            except ParseError as e:
                assert e.lineno == i + 1
                broken += 1
    assert broken > 100
    assert repr(p.parse(page, "text").samples) == repr(good.samples)


def test_pathological_inputs_are_fast() -> None:
    for data in (b"{" * 100_000, b'a{b="' + b"\\" * 100_000, b"# TYPE " + b"a" * 100_000,
                 b"a " + b"9" * 100_000, b'a{b="c",' * 20_000 + b"} 1"):  # fmt: skip
        check(data)
