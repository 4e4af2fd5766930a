"""Table-driven relabel tests over fixtures/relabel/*.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import relabel

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "relabel"


def _load(name: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))
    assert isinstance(data, list) and data
    return data


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


PROCESS = _load("process_cases.yaml")
INVALID = _load("invalid_configs.yaml")
VALID = _load("valid_configs.yaml")


def _str_labels(d: dict[Any, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (d or {}).items()}


@pytest.mark.parametrize("case", PROCESS, ids=_ids(PROCESS))
def test_process(case: dict[str, Any]) -> None:
    rules = relabel.parse(case["rules"], validation_scheme=case.get("scheme", "utf8"))
    labels = _str_labels(case["input"])
    before = dict(labels)
    got = relabel.process(labels, rules)
    assert labels == before, "process must not mutate its input"
    if case.get("drop"):
        assert got is None
    else:
        assert got == _str_labels(case["output"])
        assert list(got) == sorted(got), "output is sorted by name"


@pytest.mark.parametrize("case", PROCESS, ids=_ids(PROCESS))
def test_relabeler_and_trace_agree(case: dict[str, Any]) -> None:
    rules = relabel.parse(case["rules"], validation_scheme=case.get("scheme", "utf8"))
    labels = _str_labels(case["input"])
    expected = relabel.process(labels, rules)
    canon = tuple(sorted((k, v) for k, v in labels.items() if v))
    r = relabel.Relabeler(rules)
    first = r.apply(canon)
    second = r.apply(canon)  # cached
    want = None if expected is None else tuple(expected.items())
    assert first == want and second == want
    out, steps = relabel.process_trace(labels, rules)
    assert out == expected
    if expected is None:
        assert steps and steps[-1].after is None
    else:
        assert len(steps) == len(rules)
        assert all(s.after is not None for s in steps)
    for i, s in enumerate(steps):
        assert s.index == i and s.rule is rules[i] and s.note


@pytest.mark.parametrize("case", INVALID, ids=_ids(INVALID))
def test_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(relabel.RelabelConfigError) as ei:
        relabel.parse(case["configs"], validation_scheme=case.get("scheme", "utf8"))
    err = ei.value
    assert isinstance(err, ValueError)
    assert case["error"] in str(err)
    assert err.index == case["index"]
    assert err.field == case["field"]
    where = f"[{case['index']}]" + (f".{case['field']}" if case["field"] else "")
    assert str(err).startswith(where + ": ")


@pytest.mark.parametrize("case", VALID, ids=_ids(VALID))
def test_valid(case: dict[str, Any]) -> None:
    rules = relabel.parse(case["configs"], validation_scheme=case.get("scheme", "utf8"))
    assert len(rules) == len(case["configs"])
    for field, value in (case.get("expect") or {}).items():
        got = getattr(rules[0], field)
        if isinstance(got, tuple):
            got = list(got)
        assert got == value, field
