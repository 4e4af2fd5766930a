"""process_trace: one step per rule, with before/after, matched and a readable note."""

from __future__ import annotations

import pytest

import relabel


def _trace(rules: list[dict[str, object]], labels: dict[str, str]) -> list[relabel.TraceStep]:
    out, steps = relabel.process_trace(labels, relabel.parse(rules))  # type: ignore[arg-type]
    assert out == relabel.process(labels, relabel.parse(rules))  # type: ignore[arg-type]
    return steps


def test_drop_note_and_stop() -> None:
    steps = _trace(
        [
            {"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"},
            {"target_label": "never", "replacement": "x"},
        ],
        {"__name__": "go_gc"},
    )
    assert len(steps) == 1
    s = steps[0]
    assert s.index == 0 and s.matched and s.after is None
    assert s.before == {"__name__": "go_gc"}
    assert s.note == 'regex "go_.*" matched "go_gc" -> dropped'


def test_keep_not_matching_drops() -> None:
    (s,) = _trace([{"source_labels": ["a"], "regex": "x", "action": "keep"}], {"a": "y"})
    assert not s.matched and s.after is None
    assert s.note == 'regex "x" did not match "y" -> dropped'


def test_replace_steps() -> None:
    steps = _trace(
        [
            {"source_labels": ["a"], "regex": "(.)(.*)", "target_label": "b", "replacement": "$2"},
            {"source_labels": ["a"], "regex": "zzz", "target_label": "c"},
            {"target_label": "env", "replacement": "prod"},
            {
                "source_labels": ["a"],
                "regex": "(.*)",
                "target_label": "${1}-x!",
                "replacement": "v",
            },
            {"source_labels": ["a"], "regex": "(.*)", "target_label": "b", "replacement": "$9"},
        ],
        {"a": "foo"},
    )
    assert [s.matched for s in steps] == [True, False, True, True, True]
    assert steps[0].after == {"a": "foo", "b": "oo"}
    assert steps[0].note == 'regex "(.)(.*)" matched "foo" -> b="oo"'
    assert steps[1].after == steps[1].before
    assert "did not match" in steps[1].note and "unchanged" in steps[1].note
    assert steps[2].note == 'source empty: set env="prod"'
    assert steps[3].after == {"a": "foo", "b": "oo", "env": "prod", "foo-x!": "v"}
    assert steps[4].after == {"a": "foo", "env": "prod", "foo-x!": "v"}
    assert "delete b" in steps[4].note


def test_invalid_expanded_target_is_explained() -> None:
    (s,) = _trace(
        [{"source_labels": ["a"], "regex": "(.*)", "target_label": "$2", "replacement": "v"}],
        {"a": "foo"},
    )
    assert s.after == s.before and "not a valid label name" in s.note


@pytest.mark.parametrize(
    ("rule", "labels", "matched", "note_part"),
    [
        ({"regex": "__meta_(.*)", "action": "labelmap"}, {"__meta_x": "1"}, True, "__meta_x->x"),
        ({"regex": "__meta_(.*)", "action": "labelmap"}, {"a": "1"}, False, "(none)"),
        ({"regex": "tmp.*", "action": "labeldrop"}, {"tmp1": "1", "a": "2"}, True, "tmp1"),
        ({"regex": "a", "action": "labelkeep"}, {"tmp1": "1", "a": "2"}, True, "dropped: tmp1"),
        (
            {"source_labels": ["a"], "target_label": "h", "modulus": 1000, "action": "hashmod"},
            {"a": "baz"},
            True,
            'md5("baz") mod 1000 -> h="976"',
        ),
        (
            {"source_labels": ["a"], "target_label": "u", "action": "uppercase"},
            {"a": "ß"},
            True,
            'uppercase("ß") -> u="ß"',
        ),
        (
            {"source_labels": ["a"], "target_label": "b", "action": "keepequal"},
            {"a": "1", "b": "1"},
            True,
            '"1" == b="1" -> kept',
        ),
        (
            {"source_labels": ["a"], "target_label": "b", "action": "dropequal"},
            {"a": "1", "b": "2"},
            False,
            '"1" != b="2" -> kept',
        ),
    ],
)
def test_notes_per_action(
    rule: dict[str, object], labels: dict[str, str], matched: bool, note_part: str
) -> None:
    (s,) = _trace([rule], labels)
    assert s.matched is matched
    assert note_part in s.note


def test_trace_does_not_mutate_and_describes_rule() -> None:
    labels = {"a": "1", "__meta_x": "y"}
    rules = relabel.parse([{"regex": "__meta_.*", "action": "labeldrop"}])
    out, steps = relabel.process_trace(labels, rules)
    assert labels == {"a": "1", "__meta_x": "y"}
    assert out == {"a": "1"}
    assert steps[0].before == {"__meta_x": "y", "a": "1"}
    assert steps[0].rule.describe() == "{action: labeldrop, regex: '__meta_.*'}"
