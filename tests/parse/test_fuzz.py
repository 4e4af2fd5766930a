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
                assert "unparseable" not in str(e)  # the bug guard never fires
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
    max_examples=400, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
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


# -- metamorphic: blanks, tabs and trailing commas the text format allows change nothing ------

_LN = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: not n.startswith("__")
)
_VAL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=8)
_WS = st.text(" \t", min_size=1, max_size=3)


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@st.composite
def canonical_and_noisy(draw: st.DrawFn) -> tuple[str, str]:
    canon, noisy = [], []
    for _ in range(draw(st.integers(1, 6))):
        quoted = draw(st.booleans())
        name = draw(st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,8}", fullmatch=True))
        labels = draw(st.dictionaries(_LN, _VAL, max_size=3))
        value = draw(st.sampled_from(["0", "1", "-2.5", "1e3", "NaN", "+Inf", "3.25e-07"]))
        ts = draw(st.none() | st.integers(0, 2**40).map(str))
        pairs = [f'{k}="{_esc(v)}"' for k, v in labels.items()]
        head = [f'"{name}"'] if quoted else []
        c = (f"{{{','.join(head + pairs)}}}" if quoted else name
             + (f"{{{','.join(pairs)}}}" if pairs else ""))  # fmt: skip
        canon.append(f"{c} {value}" + (f" {ts}" if ts else ""))

        def ws() -> str:
            return draw(_WS)

        def opt() -> str:
            return draw(st.sampled_from(["", " ", "\t", "  "]))

        items = head + [f'{k}{opt()}={opt()}"{_esc(v)}"' for k, v in labels.items()]
        block = ""
        if items:
            joined = "".join((f"{opt()},{opt()}" if i else "") + it for i, it in enumerate(items))
            trailing = "," if draw(st.booleans()) else ""
            block = f"{{{opt()}{joined}{trailing}{opt()}}}"
        n = block if quoted else name + (opt() + block if block else "")
        noisy.append(f"{opt()}{n}{ws()}{value}" + (f"{ws()}{ts}" if ts else "") + opt())
    return "\n".join(canon) + "\n", "\n".join(noisy) + "\n"


def _rows(text: str) -> list[tuple[str, tuple[tuple[str, str], ...], str, int | None]]:
    p = Parser()
    r = p.parse(text.encode(), "text")
    return [(*p.series_labels(s), repr(v), ts) for s, v, ts, _ in r.samples]


@settings(max_examples=250, derandomize=True, deadline=None)
@given(canonical_and_noisy())
def test_blanks_and_trailing_commas_change_nothing(pair: tuple[str, str]) -> None:
    canon, noisy = pair
    assert _rows(canon) == _rows(noisy)


# -- the regex quick paths give exactly what the character-level parsers give ---------------


def _sample_lines(page: bytes) -> list[tuple[str, str]]:
    """(line, last TYPE seen) for every sample line of a page."""
    out, mtype = [], "unknown"
    for line in page.decode().split("\n"):
        if line.startswith("# TYPE "):
            mtype = line.split(" ")[3]
        elif line and not line.startswith("#"):
            out.append((line, mtype))
    return out


def test_text_quick_path_equals_general_path() -> None:
    from agent.devtools.pages import cadvisor_page, histogram_page, ksm_page
    from agent.scrape._parse_text import general_sample_line, quick_sample

    lines = []
    for page in (ksm_page(nodes=2, pods=30), cadvisor_page(pods=4), histogram_page(series=10),
                 (FIXTURES / "edge.prom").read_bytes()):  # fmt: skip
        lines += _sample_lines(page)
    quick = 0
    for line, mtype in lines:
        got = quick_sample(line, mtype)
        if got is not None:
            quick += 1
            assert repr(got) == repr(general_sample_line(line, 1, mtype)), line
    assert quick > len(lines) * 0.9


def test_openmetrics_quick_path_equals_general_path() -> None:
    from agent.devtools.pages import histogram_page, ksm_page
    from agent.scrape._parse_om import general_om_sample_line, quick_om_sample_line

    lines = []
    for page in (ksm_page(nodes=2, pods=30, openmetrics=True),
                 histogram_page(series=10, openmetrics=True),
                 (FIXTURES / "openmetrics.om").read_bytes()):  # fmt: skip
        lines += _sample_lines(page)
    quick = 0
    for line, mtype in lines:
        got = quick_om_sample_line(line, mtype)
        if got is not None:
            quick += 1
            assert repr(got) == repr(general_om_sample_line(line, 1, mtype, False)), line
    assert quick > len(lines) * 0.9


@settings(max_examples=200, derandomize=True, deadline=None)
@given(canonical_and_noisy())
def test_quick_path_equals_general_path_generated(pair: tuple[str, str]) -> None:
    from agent.scrape._parse_text import general_sample_line, quick_sample

    for line in pair[0].splitlines():
        got = quick_sample(line, "summary") if line.isascii() else None
        if got is not None:
            assert repr(got) == repr(general_sample_line(line, 1, "summary"))
