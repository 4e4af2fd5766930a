"""The compiled rules (``Rule.step``, run by ``process``, ``process_in_place`` and ``Relabeler``)
against the straightforward reference engine (``reference_process``: ``apply_rule`` on a
sorted ``_State``), for random label sets and random rules."""

from __future__ import annotations

import sys
import threading
from typing import Any

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import relabel
from relabel._compiled import _MEMO_SIZE
from relabel._engine import reference_process

SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAMES = [
    "__name__",
    "a",
    "b",
    "c",
    "a_c",
    "job",
    "__meta_x",
    "__meta_y",
    "x_a",
    "y_a",
    "t",
    "k8s_a",
]
VALUES = ["", "foo", "bar", "a;b", "go_gc", "kube_pod_info", "x\ny", "Ünï", "0", "FOO", "a", "c"]
REGEXES = [
    "go_.*",
    "f.*|b.*",
    "(.*)",
    "(.+)",
    "(.*);(.*)",
    "(?P<first>[a-z]+).*",
    "a|b|c",
    "",
    "(foo)?",
    "__meta_(.*)",
    "(x|y)_(.*)",
    "(.*)_c",
    "(?i)FOO",
    "kube_(pod|node)_.*",
    "\\pL+",
    "[^;]*",
    "x\ny|.*\n.*",
]
TARGETS = ["t", "a", "c", "a_c", "__name__", "${1}", "$1_x", "${first}", "x_${2}", "$$t", "t$", "é"]
REPLACEMENTS = [
    "$1",
    "",
    "static",
    "${2}-$1",
    "${first}",
    "$$",
    "$0",
    "v$",
    "x${9}y",
    "a",
    "${1}_c",
]
SEPARATORS = [";", "/", ""]

# Label sets as pair lists: any insertion order, duplicates resolved by the last one.
LABELS = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)), max_size=9).map(dict)
SOURCES = st.lists(st.sampled_from(NAMES), max_size=3)


def _opt(key: str, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """{key: value} or {} (the field left out, so its default applies)."""
    return st.one_of(st.just({}), strategy.map(lambda v: {key: v}))


def _merge(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    def join(ds: tuple[dict[str, Any], ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for d in ds:
            out.update(d)
        return out

    return st.tuples(*parts).map(join)


def _action(name: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.just({"action": name})


REGEX = st.sampled_from(REGEXES)
RAW_RULE = st.one_of(
    _merge(
        st.sampled_from(["keep", "drop"]).map(lambda a: {"action": a}),
        _opt("source_labels", SOURCES),
        _opt("separator", st.sampled_from(SEPARATORS)),
        _opt("regex", REGEX),
    ),
    _merge(
        _opt("action", st.just("replace")),
        _opt("source_labels", SOURCES),
        _opt("separator", st.sampled_from(SEPARATORS)),
        _opt("regex", REGEX),
        st.sampled_from(TARGETS).map(lambda t: {"target_label": t}),
        _opt("replacement", st.sampled_from(REPLACEMENTS)),
    ),
    _merge(
        _action("labelmap"),
        _opt("regex", REGEX),
        _opt("replacement", st.sampled_from(REPLACEMENTS)),
    ),
    _merge(
        st.sampled_from(["labeldrop", "labelkeep"]).map(lambda a: {"action": a}),
        _opt("regex", REGEX),
    ),
    _merge(
        _action("hashmod"),
        _opt("source_labels", SOURCES),
        _opt("separator", st.sampled_from(SEPARATORS)),
        st.integers(1, 9).map(lambda m: {"modulus": m}),
        st.sampled_from(["t", "a", "c"]).map(lambda t: {"target_label": t}),
    ),
    _merge(
        st.sampled_from(["lowercase", "uppercase", "keepequal", "dropequal"]).map(
            lambda a: {"action": a}
        ),
        _opt("source_labels", SOURCES),
        st.sampled_from(["t", "a", "c", "__name__"]).map(lambda t: {"target_label": t}),
    ),
)


@st.composite
def rule_lists(draw: st.DrawFn) -> list[relabel.Rule]:
    raws = draw(st.lists(RAW_RULE, max_size=6))
    scheme = draw(st.sampled_from(["utf8", "legacy"]))
    try:
        return relabel.parse(raws, validation_scheme=scheme)
    except relabel.RelabelConfigError:
        reject()


# Rules built directly (no validation, as __post_init__ trusts them): targets that parse()
# would refuse, e.g. an invalid literal target with the empty-source shortcut of `replace`.
DIRECT_RULE = st.builds(
    relabel.Rule,
    source_labels=SOURCES.map(tuple),
    separator=st.sampled_from(SEPARATORS),
    target_label=st.sampled_from([*TARGETS, "", "not valid", "1x"]),
    regex=REGEX,
    modulus=st.integers(1, 9),
    replacement=st.sampled_from(REPLACEMENTS),
    action=st.sampled_from(relabel._config.ACTIONS),
    validation_scheme=st.sampled_from(["utf8", "legacy"]),
    regex_is_default=st.booleans(),
)
RULES = st.one_of(rule_lists(), st.lists(DIRECT_RULE, max_size=5))


def _check(labels: dict[str, str], rules: list[relabel.Rule]) -> None:
    snapshot = dict(labels)
    want = reference_process(labels, rules)
    out = relabel.process(labels, rules)
    assert out == want
    assert labels == snapshot and list(labels) == list(snapshot)  # input untouched
    if out is not None:
        assert list(out) == sorted(out)
        assert out is not labels
    in_place = dict(labels)
    got = relabel.process_in_place(in_place, rules)
    assert got == want  # dict equality: any order
    if got is not None:
        assert got is in_place
    canon = tuple(sorted((k, v) for k, v in labels.items() if v != ""))
    r = relabel.Relabeler(rules)
    assert r.apply(canon) == (None if want is None else tuple(want.items()))
    traced, _ = relabel.process_trace(labels, rules)
    assert traced == want


@SETTINGS
@given(st.lists(LABELS, min_size=1, max_size=8), RULES)
def test_compiled_rules_equal_the_reference(
    label_sets: list[dict[str, str]], rules: list[relabel.Rule]
) -> None:
    # several label sets through the same rules: the per-rule memos carry over between them
    for labels in label_sets:
        _check(labels, rules)


@SETTINGS
@given(LABELS, LABELS, RULES)
def test_input_order_does_not_matter(
    labels: dict[str, str], other: dict[str, str], rules: list[relabel.Rule]
) -> None:
    backwards = dict(reversed(list(labels.items())))
    assert relabel.process(backwards, rules) == relabel.process(labels, rules)
    got = relabel.process_in_place(dict(backwards), rules)
    assert got == reference_process(labels, rules)
    _check(other, rules)


def _parse(*raws: dict[str, Any]) -> list[relabel.Rule]:
    return relabel.parse(list(raws))


def test_labelmap_builder_order_with_set_labels() -> None:
    # x_a and y_a both map to m_a: the later in Builder order wins. Untouched labels come
    # first (sorted), then the ones set during relabelling in the order they were set.
    rules = _parse(
        {"source_labels": ["b"], "target_label": "y_a"},  # y_a is now "set": behind x_a
        {"regex": "(?:x|y)_(.*)", "replacement": "m_$1", "action": "labelmap"},
    )
    labels = {"y_a": "old", "b": "from_b", "x_a": "from_x"}
    assert relabel.process(labels, rules) == {
        "b": "from_b",
        "m_a": "from_b",
        "x_a": "from_x",
        "y_a": "from_b",
    }
    assert relabel.process(labels, rules) == reference_process(labels, rules)
    # without the first rule, y_a sorts after x_a and wins
    assert relabel.process(labels, rules[1:]) == reference_process(labels, rules[1:])
    assert relabel.process(labels, rules[1:])["m_a"] == "old"  # type: ignore[index]


def test_labelmap_reads_a_snapshot_when_a_hit_is_another_target() -> None:
    # a -> a_c and a_c -> a_c_c: a_c must map with its value from before the rule
    rules = _parse({"regex": "(.*)", "replacement": "${1}_c", "action": "labelmap"})
    labels = {"a_c": "second", "a": "first"}
    out = relabel.process(labels, rules)
    assert out == reference_process(labels, rules)
    assert out == {"a": "first", "a_c": "first", "a_c_c": "second"}


def test_process_returns_a_new_dict_for_a_sorted_unchanged_input() -> None:
    rules = _parse({"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"})
    labels = {"__name__": "up", "job": "x"}
    out = relabel.process(labels, rules)
    assert out == labels and out is not labels
    assert out is not None
    out["job"] = "changed"
    assert labels["job"] == "x"


def test_process_in_place_removes_empty_values_and_returns_its_argument() -> None:
    rules = _parse({"target_label": "cluster", "replacement": "c1"})
    labels = {"job": "x", "empty": "", "__name__": "up"}
    out = relabel.process_in_place(labels, rules)
    assert out is labels
    assert out == {"__name__": "up", "job": "x", "cluster": "c1"}
    assert (
        relabel.process_in_place(
            {"__name__": "go_gc"},
            _parse({"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"}),
        )
        is None
    )


def test_memos_stay_correct_past_their_bound() -> None:
    # more distinct values and label names than a memo holds: it is emptied and refilled
    n = 3 * _MEMO_SIZE
    rules = _parse(
        {"source_labels": ["v"], "regex": "v1.*", "action": "drop"},
        {"source_labels": ["v"], "regex": "v(2.*)", "target_label": "two", "replacement": "$1"},
        {"source_labels": ["v"], "regex": "v3.*", "target_label": "three", "replacement": "y"},
        {"regex": "n_(.*)_3", "replacement": "m_$1", "action": "labelmap"},
        {"regex": "n_.*_[12]", "action": "labeldrop"},
        {"regex": "n_.*_[15]|v|two|three|m_.*", "action": "labelkeep"},
    )
    kept = 0
    for i in range(n):
        labels = {"v": f"v{i}", f"n_{i}_{i % 7}": "x", f"n_{i}_3": str(i)}
        want = reference_process(labels, rules)
        assert relabel.process(labels, rules) == want
        assert relabel.process_in_place(dict(labels), rules) == want
        kept += want is not None
    assert 0 < kept < n


def test_unknown_action_of_a_direct_rule_fails_when_applied() -> None:
    rule = relabel.Rule(action="nope")
    try:
        relabel.process({"a": "b"}, [rule])
    except ValueError as exc:
        assert "nope" in str(exc)
    else:  # pragma: no cover - the assertion below reports it
        raise AssertionError("no error")


def test_threads_sharing_rules_get_reference_results() -> None:
    # Scrapes of one job's targets run in threads with the same rules: the name memos are
    # replaced whole (never half-updated), so a step never sees a torn memo, even while
    # other threads fill and empty it (more distinct names than it holds).
    rules = _parse(
        {"regex": "n_(.*)_3", "replacement": "m_$1", "action": "labelmap"},
        {"regex": "n_.*_[12]", "action": "labeldrop"},
        {"regex": "n_.*|m_.*|v", "action": "labelkeep"},
        {"source_labels": ["v"], "regex": "v1.*", "action": "drop"},
    )
    sets = [
        {"v": f"v{i}", f"n_{i}_{i % 5}": "x", f"n_{i % 300}_3": str(i), "other": "o"}
        for i in range(2 * _MEMO_SIZE)
    ]
    want = [reference_process(lb, rules) for lb in sets]
    errors: list[object] = []

    def work(offset: int) -> None:
        for k in range(len(sets)):
            i = (k * 7 + offset) % len(sets)
            try:
                if relabel.process(sets[i], rules) != want[i]:
                    errors.append(i)
            except Exception as exc:  # an exception in a thread would not fail the test
                errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(t * 101,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []
