"""Differential test against prometheus_client's parsers on valid inputs.

Compared: every sample's (metric name, label set, value, timestamp, exemplar) and the metadata
(type, help, unit) of every family that has TYPE/HELP/UNIT lines.

Known differences, normalised here (each is Prometheus' behaviour on our side):

1. client_python names a counter family without ``_total`` (text ``# TYPE x_total counter``
   gives family ``x``); our metadata keeps the name as exposed.
2. Prometheus 3 rewrites ``le`` (after a histogram TYPE) and ``quantile`` (after a summary TYPE)
   label values to the canonical float form (``"1"`` -> ``"1.0"``); client_python keeps them.
3. client_python gives text timestamps as float seconds and OpenMetrics ones as
   ``Timestamp(sec, nsec)``; we give int milliseconds (OpenMetrics: ``int(seconds * 1000)``, so a
   1 ms difference from float rounding is tolerated there).
4. client_python returns integral values as ``int``; ours are ``float``.
5. client_python drops a repeated OpenMetrics sample with an identical timestamp; the generated
   expositions never repeat a series.
6. For a text ``# TYPE x counter`` (no ``_total``), client_python renames the samples ``x`` to
   ``x_total``; we keep the names as exposed, as Prometheus does.
"""

from __future__ import annotations

import math
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as om_families,
)
from prometheus_client.parser import text_string_to_metric_families as text_families

from agent.scrape._parse_common import format_om_float
from agent.scrape.parse import Parser

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "pages"
REALDATA = ROOT.parent / "shared" / "realdata"

Row = tuple[str, tuple[tuple[str, str], ...], str, int | None, Any]


def _v(x: float) -> str:
    return "NaN" if math.isnan(x) else repr(float(x))


def ours(data: str, fmt: str) -> tuple[list[Row], dict[str, tuple[str, str, str]]]:
    p = Parser()
    r = p.parse(data.encode(), fmt)
    rows: list[Row] = []
    for series, value, ts, ex in r.samples:
        name, labels = p.series_labels(series)
        exr = None
        if ex is not None:
            exr = (ex.labels, _v(ex.value), ex.timestamp_ms)
        rows.append((name, tuple(sorted(labels)), _v(value), ts, exr))
    meta = {k: (m.type, m.help, m.unit) for k, m in r.metadata.items()}
    return rows, meta


def _norm_labels(labels: dict[str, str], ftype: str) -> tuple[tuple[str, str], ...]:
    out = dict(labels)
    key = {"histogram": "le", "summary": "quantile"}.get(ftype)
    if key and key in out:
        try:
            out[key] = format_om_float(float(out[key]))
        except ValueError:
            pass
    return tuple(sorted(out.items()))


def theirs(
    data: str, fmt: str, my_meta: dict[str, tuple[str, str, str]]
) -> tuple[list[Row], dict[str, Any]]:
    fams = list((om_families if fmt == "openmetrics" else text_families)(data))
    rows: list[Row] = []
    for f in fams:
        # difference 6: for "# TYPE x counter" client_python renames every sample x -> x_total
        renamed = (
            fmt == "text" and f.type == "counter" and my_meta.get(f.name, ("",))[0] == "counter"
        )
        for s in f.samples:
            sname = s.name[: -len("_total")] if renamed else s.name
            ts: int | None = None
            if s.timestamp is not None:
                if fmt == "openmetrics":
                    ts = s.timestamp.sec * 1000 + s.timestamp.nsec // 1_000_000
                else:
                    ts = round(s.timestamp * 1000)
            exr = None
            if s.exemplar is not None:
                ets = s.exemplar.timestamp
                ems = None if ets is None else ets.sec * 1000 + ets.nsec // 1_000_000
                exr = (tuple(sorted(s.exemplar.labels.items())), _v(s.exemplar.value), ems)
            rows.append((sname, _norm_labels(s.labels, f.type), _v(s.value), ts, exr))
    by_name: dict[str, list[Any]] = {}
    for f in fams:
        by_name.setdefault(f.name, []).append(f)
    return rows, by_name


def _close(a: int | None, b: int | None, tol: int) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= tol


def compare(data: str, fmt: str) -> int:
    mine, my_meta = ours(data, fmt)
    other, their_fams = theirs(data, fmt, my_meta)
    tol = 1 if fmt == "openmetrics" else 0
    key = lambda r: (r[0], r[1], r[2])  # noqa: E731
    mine_sorted, other_sorted = sorted(mine, key=key), sorted(other, key=key)
    assert len(mine_sorted) == len(other_sorted)
    for a, b in zip(mine_sorted, other_sorted, strict=True):
        assert a[:3] == b[:3]
        assert _close(a[3], b[3], tol), (a, b)
        if a[4] is None or b[4] is None:
            assert a[4] is b[4] is None, (a, b)
        else:
            assert a[4][:2] == b[4][:2] and _close(a[4][2], b[4][2], tol), (a, b)
    for name, (typ, help_text, unit) in my_meta.items():
        cands = list(their_fams.get(name, []))
        if typ == "counter" and name.endswith("_total"):
            # difference 1 (a gauge "x" and a counter "x_total" both become "x" there)
            cands += their_fams.get(name[: -len("_total")], [])
        got = [(f.type, f.documentation, f.unit) for f in cands]
        assert (typ, help_text, unit) in got, (name, got)
    return len(mine)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("ksm.prom", "text"),
        ("cadvisor.prom", "text"),
        ("histograms.prom", "text"),
        ("edge.prom", "text"),
        ("openmetrics.om", "openmetrics"),
    ],
)
def test_fixtures_match_client_python(name: str, fmt: str) -> None:
    assert compare((FIXTURES / name).read_text(), fmt) > 20


REAL = [
    "k8s_real_cluster_nri/v1_35/ksm/metrics",
    "k8s_real_cluster_nri/v1_35/kubelet/metrics/cadvisor",
    "k8s_real_cluster_nri/v1_31/ksm_metrics.txt",
    "k8s_real_cluster_nri/v1_16_docker/kubelet_metrics_cadvisor.txt",
    "datadog_fixtures_2018/kubelet_kubelet_metrics.txt",
    "kubelet/eks_kubelet_metrics_resource.txt",
    "cadvisor_golden/prometheus_metrics.txt",
    "prometheus_textparse/alltypes.237mfs.prom.txt",
]


@pytest.mark.parametrize("rel", REAL)
def test_real_pages_match_client_python(rel: str) -> None:
    path = REALDATA / rel
    if not path.is_file():
        pytest.skip("../shared/realdata absent")
    assert compare(path.read_text(), "text") > 0


# -- generated expositions ------------------------------------------------------------------

_SUFFIXES = ("_total", "_count", "_sum", "_bucket", "_created", "_info", "_gcount", "_gsum")
NAMES = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,10}", fullmatch=True).filter(
    lambda n: not n.endswith(_SUFFIXES)
)
OM_NAMES = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
LNAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: not n.startswith("__") and n not in ("le", "quantile")
)
LVALUES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
HELPS = st.text(
    st.characters(whitelist_categories=("L", "N", "P", "S"), whitelist_characters=" \\\n"),
    max_size=20,
).map(str.strip)
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**15), 10**15).map(float),
    st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e-9, 1.7e9]),
)


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_value(v: float, style: int) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if style == 1 and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


@st.composite
def text_expositions(draw: st.DrawFn) -> str:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique_by=str.lower))
    out = []
    for name in names:
        typ = draw(st.sampled_from([None, "counter", "gauge", "untyped"]))
        if draw(st.booleans()):
            out.append(f"# HELP {name} {_esc(draw(HELPS)).replace(chr(34), chr(34))}\n")
        if typ:
            out.append(f"# TYPE {name} {typ}\n")
        for labels in draw(st.lists(st.dictionaries(LNAMES, LVALUES, max_size=3), max_size=4)):
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            value = _fmt_value(draw(FLOATS), draw(st.integers(0, 1)))
            ts = draw(st.none() | st.integers(0, 2**45))
            line = f"{name}{{{lab}}} {value}" if lab or draw(st.booleans()) else f"{name} {value}"
            out.append(line + ("" if ts is None else f" {ts}") + "\n")
    if draw(st.booleans()):
        out.append("# a comment\n")
    return "".join(out)


@st.composite
def om_expositions(draw: st.DrawFn) -> str:
    names = draw(st.lists(OM_NAMES, min_size=1, max_size=4, unique=True))
    out = []
    for name in names:
        typ = draw(st.sampled_from(["counter", "gauge", "unknown", "info"]))
        if draw(st.booleans()):
            out.append(f"# HELP {name} {_esc(draw(HELPS))}\n")
        out.append(f"# TYPE {name} {typ}\n")
        label_sets = draw(
            st.lists(st.dictionaries(LNAMES, LVALUES, max_size=3), max_size=3, unique_by=str)
        )
        # info samples form one group: all with a timestamp or none (and never backwards)
        info_ts = draw(st.booleans())
        for k, labels in enumerate(label_sets):
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            ts = draw(st.none() | st.integers(0, 2 * 10**12).map(lambda ms: f"{ms / 1000:.3f}"))
            if typ == "info":
                ts = f"{1782468870 + k}.25" if info_ts else None
            tail = "" if ts is None else f" {ts}"
            if typ == "counter":
                v = draw(st.floats(min_value=0, max_value=1e15) | st.just(math.inf))
                ex = ""
                if draw(st.booleans()):
                    ex_labels = draw(
                        st.dictionaries(LNAMES, st.text(string.hexdigits, max_size=8), max_size=2)
                    )
                    ex_lab = ",".join(f'{k}="{vv}"' for k, vv in ex_labels.items())
                    ex_ts = draw(
                        st.none() | st.integers(0, 2 * 10**12).map(lambda ms: f" {ms / 1000:.3f}")
                    )
                    ex = f" # {{{ex_lab}}} {_fmt_value(draw(FLOATS), 0)}{ex_ts or ''}"
                out.append(f"{name}_total{{{lab}}} {_fmt_value(v, 0)}{tail}{ex}\n")
                if draw(st.booleans()):
                    out.append(f"{name}_created{{{lab}}} {draw(st.integers(0, 2**31))}.5{tail}\n")
            elif typ == "info":
                out.append(f"{name}_info{{{lab}}} 1{tail}\n")
            else:
                out.append(f"{name}{{{lab}}} {_fmt_value(draw(FLOATS), 1)}{tail}\n")
    out.append("# EOF\n")
    return "".join(out)


@settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(text_expositions())
def test_generated_text_matches_client_python(text: str) -> None:
    compare(text, "text")


@settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(om_expositions())
def test_generated_openmetrics_matches_client_python(text: str) -> None:
    Parser(strict=True).parse(text.encode(), "openmetrics")  # valid by the spec, too
    compare(text, "openmetrics")
