"""Property tests (hypothesis) for the relabel engine."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import relabel
from relabel._case import go_lower, go_upper
from relabel._expand import compile_template, expand
from relabel._regex import GoRegex

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- process / Relabeler


NAMES = ["__name__", "a", "b", "c", "job", "__meta_x", "__meta_y", "x_a", "y_a", "ns"]
VALUES = st.sampled_from(["", "foo", "bar", "a;b", "go_gc", "kube_pod_info", "x\ny", "Ünï", "0"])
LABELS = st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=7)

RULE_POOL = [
    {"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"},
    {"source_labels": ["a"], "regex": "f.*|b.*", "action": "keep"},
    {
        "source_labels": ["a", "b"],
        "regex": "(.*);(.*)",
        "target_label": "c",
        "replacement": "$2-$1",
    },
    {"source_labels": ["a"], "target_label": "${1}", "regex": "(.*)", "replacement": "v"},
    {"target_label": "job", "replacement": "static"},
    {"target_label": "b", "replacement": ""},
    {"source_labels": ["c"], "target_label": "h", "action": "hashmod", "modulus": 7},
    {"regex": "__meta_(.*)", "action": "labelmap"},
    {"regex": "(?:x_|y_)(.*)", "action": "labelmap", "replacement": "m_$1"},
    {"regex": "__meta_.*", "action": "labeldrop"},
    {"regex": "__name__|a|b|c|job", "action": "labelkeep"},
    {"source_labels": ["a"], "target_label": "b", "action": "keepequal"},
    {"source_labels": ["a"], "target_label": "c", "action": "dropequal"},
    {"source_labels": ["ns"], "target_label": "NS", "action": "uppercase"},
    {"source_labels": ["a"], "target_label": "a", "action": "lowercase"},
    {"source_labels": ["a"], "regex": "(?i)FOO", "action": "drop"},
]
RULES = st.lists(st.sampled_from(range(len(RULE_POOL))), max_size=6).map(
    lambda idx: relabel.parse([RULE_POOL[i] for i in idx])
)


@SETTINGS
@given(LABELS, RULES)
def test_process_never_mutates_and_relabeler_agrees(
    labels: dict[str, str], rules: list[relabel.Rule]
) -> None:
    snapshot = dict(labels)
    out = relabel.process(labels, rules)
    assert labels == snapshot
    if out is not None:
        assert all(v != "" for v in out.values())
        assert list(out) == sorted(out)
    canon = tuple(sorted((k, v) for k, v in labels.items() if v != ""))
    r = relabel.Relabeler(rules)
    want = None if out is None else tuple(out.items())
    assert r.apply(canon) == want
    assert r.apply(canon) == want  # from the cache
    r.sweep()
    assert r.apply(canon) == want  # promoted from the previous generation
    traced, steps = relabel.process_trace(labels, rules)
    assert traced == out
    assert labels == snapshot
    assert len(steps) <= len(rules)


def test_relabeler_sweep_bounds_the_cache() -> None:
    rules = relabel.parse([{"target_label": "cluster", "replacement": "c1"}])
    r = relabel.Relabeler(rules)
    series = [(("__name__", "m"), ("i", str(i))) for i in range(100)]
    for s in series:
        r.apply(s)
    assert len(r) == 100
    assert r.sweep() == 0  # nothing older than one generation yet
    for s in series[:10]:  # only 10 series still scraped
        r.apply(s)
    assert r.sweep() == 90  # the 90 unused ones go
    assert len(r) == 10
    assert r.apply(series[0]) == (("__name__", "m"), ("cluster", "c1"), ("i", "0"))


def test_relabeler_max_entries_forces_a_sweep() -> None:
    rules = relabel.parse([{"target_label": "x", "replacement": "y"}])
    r = relabel.Relabeler(rules, max_entries=50)
    for i in range(1000):
        r.apply((("i", str(i)),))
    assert len(r) <= 100


def test_relabeler_without_rules_is_identity() -> None:
    r = relabel.Relabeler([])
    lbls = (("__name__", "up"), ("job", "x"))
    assert r.apply(lbls) is lbls
    assert len(r) == 0


def test_relabeler_returns_input_object_when_unchanged() -> None:
    r = relabel.Relabeler(relabel.parse([{"source_labels": ["a"], "regex": "x", "action": "drop"}]))
    lbls = (("a", "keep"),)
    assert r.apply(lbls) is lbls
    assert r.apply((("a", "x"),)) is None


# ---------------------------------------------------------------- Go Expand vs a reference

NAME_CHARS = "abAZ019_é٣"  # '٣' is an Arabic-Indic digit (Nd): a name char but not a number
TEMPLATE = st.text(alphabet=NAME_CHARS + "${}-x²", max_size=16)


def _reference_expand(template: str, groups: list[str | None], names: dict[str, int]) -> str:
    """Independent reading of Go's rules with a regex: $$, ${name}, $name; else $ is literal."""
    cls = "[A-Za-z0-9_é٣]+"  # the name characters of TEMPLATE's alphabet, spelled out
    pat = re.compile(r"\$(?:(\$)|\{(" + cls + r")\}|(" + cls + "))")

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(3)
        if name.isascii() and name.isdigit() and (name == "0" or name[0] != "0") and len(name) <= 9:
            n = int(name)
            return (groups[n] or "") if n < len(groups) else ""
        idx = names.get(name)
        return (groups[idx] or "") if idx is not None else ""

    return pat.sub(sub, template)


@SETTINGS
@given(TEMPLATE)
@example("$1x${1}x$$1$01${01}$0${}${$")
@example("${123456789}$1234567890")
def test_expand_matches_reference(template: str) -> None:
    rx = GoRegex("(?P<first>[^-]*)-(?P<a1>[^-]*)-(.*)|(zz)")
    groups = rx.groups("one-two-three")
    assert groups is not None
    tpl = compile_template(template, rx.group_count, rx.group_names)
    want = _reference_expand(template, list(groups), rx.group_names)
    assert expand(tpl, groups) == want


def test_name_char_classes_match_go() -> None:
    # unicode.IsLetter / unicode.IsDigit(Nd) / '_' are name characters; '²' (No) is not.
    tpl = compile_template("$1²|$1٣|$1é", 1, {})
    assert expand(tpl, ["x", "v"]) == "v²||"
    assert unicodedata.category("٣") == "Nd"


# ---------------------------------------------------------------- regex engines agree


def _atom() -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            "a",
            "b",
            "ab",
            ".",
            "[ab]",
            "[^a]",
            "[a-c_]",
            "\\d",
            "\\w",
            "\\s",
            "\\.",
            "-",
            ";",
            "é",
            "k",
            "S",
            "[^k]",
        ]
    )


def _quant() -> st.SearchStrategy[str]:
    return st.sampled_from(["", "", "*", "+", "?", "*?", "+?", "{2}", "{1,2}", "{0,}"])


@st.composite
def safe_patterns(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        if depth < 2 and draw(st.integers(0, 4)) == 0:
            alts = draw(st.lists(safe_patterns(depth + 1), min_size=1, max_size=3))
            kind = draw(st.sampled_from(["(", "(?:", f"(?P<g{depth}_{len(parts)}>"]))
            parts.append(kind + "|".join(alts) + ")")
        else:
            atom = draw(_atom())
            q = draw(_quant())
            parts.append(
                ("(?:" + atom + ")" if len(atom) > 1 and atom[0] not in "[\\" else atom) + q
            )
    return "".join(parts)


SUBJECT = st.text(alphabet="abAB;-. \n\t\x0b9_é\u212a\u017fkKsS", max_size=12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.tuples(st.sampled_from(["", "(?i)"]), safe_patterns()).map("".join),
    st.lists(SUBJECT, min_size=1, max_size=5),
)
@example("(?i)[a-z]k+s", ["AKS", "a\u212as", "bk\u017f"])
def test_python_re_path_equals_re2(pattern: str, subjects: list[str]) -> None:
    try:
        rx = GoRegex(pattern)
    except ValueError:
        return  # e.g. duplicate group names from the generator
    for s in subjects:
        assert rx.match(s) == rx.re2_match(s), (pattern, s)
        assert rx.groups(s) == rx.re2_groups(s), (pattern, s)


def test_typical_patterns_use_the_fast_engine() -> None:
    for p in ["kube_pod_.*", "(.*)", "go_.*|process_.*", "container_(cpu|memory)_.*", "(.+);(.+)"]:
        assert GoRegex(p).engine == "re", p
    assert GoRegex("(?i)kube_.*").engine == "re"
    for p in ["(?i)é", "\\pL+", "(a+)+$", ".*a.*a.*a.*b", "[[:alpha:]]", "a{,3}"]:
        assert GoRegex(p).engine == "re2", p


def test_long_values_switch_to_re2_and_agree() -> None:
    rx = GoRegex("(.+);(.+)")
    long_value = "x" * 5000 + ";" + "y" * 5000
    assert rx.groups(long_value) == (long_value, "x" * 5000, "y" * 5000)
    assert not rx.match("z" * 10000)


def test_hostile_regex_completes() -> None:
    # Catastrophic for a backtracking engine; RE2 is linear. (Timing is shown in the bench.)
    rules = relabel.parse([{"source_labels": ["a"], "regex": "(a+)+$", "action": "drop"}])
    value = "a" * 50_000 + "b"
    assert relabel.process({"a": value}, rules) == {"a": value}
    rules2 = relabel.parse([{"source_labels": ["a"], "regex": "(x+x+)+y", "action": "keep"}])
    assert relabel.process({"a": "x" * 20_000}, rules2) is None


# ---------------------------------------------------------------- case mapping


@SETTINGS
@given(st.text(max_size=20))
def test_case_mapping_is_per_rune(s: str) -> None:
    assert len(go_upper(s)) == len(s)
    assert len(go_lower(s)) == len(s)
    if s.isascii():
        assert go_upper(s) == s.upper() and go_lower(s) == s.lower()
    for ch, u in zip(s, go_upper(s), strict=True):
        assert u == ch or len(ch.upper()) != 1 or u == ch.upper()


def test_deep_nesting() -> None:
    # Python's recursive parser would overflow; such patterns go to RE2.
    rx = GoRegex("(" * 60 + "a" + ")" * 60)
    assert rx.engine == "re2" and rx.match("a") and not rx.match("b")
    assert rx.groups("a") == ("a",) * 61
    # Go rejects nesting beyond 1000 ("expression nests too deeply").
    try:
        relabel.parse(
            [{"source_labels": ["a"], "regex": "(" * 1001 + ")" * 1001, "action": "keep"}]
        )
    except relabel.RelabelConfigError as exc:
        assert exc.field == "regex" and "nests too deeply" in str(exc)
    else:
        raise AssertionError("expected a RelabelConfigError")


def test_long_literal_pattern() -> None:
    rx = GoRegex("x" * 5000)
    assert rx.match("x" * 5000) and not rx.match("x" * 4999)


def test_rule_built_directly_works_and_equals_parsed() -> None:
    direct = relabel.Rule(source_labels=("a",), target_label="b")
    parsed = relabel.parse([{"source_labels": ["a"], "target_label": "b"}])[0]
    assert direct == parsed and hash(direct) == hash(parsed)
    assert relabel.process({"a": "x"}, [direct]) == {"a": "x", "b": "x"}
    drop = relabel.Rule(source_labels=("a",), regex="x|y", action="drop", regex_is_default=False)
    assert relabel.process({"a": "y"}, [drop]) is None


def test_re2_wrapper_fallback_agrees_with_native() -> None:
    # The pure-Python re2 API path (used if the binding's C++ object is unavailable).
    for pattern, subjects in [
        ("(\\pL+)-(\\d*)", ["żółw-12", "abc-", "1-2"]),
        ("(?i)(k)(x)?", ["K", "\u212a", "kx", "q"]),
    ]:
        rx = GoRegex(pattern)
        m = rx._re2_matcher(None)
        g = rx._re2_grouper(None)
        for s in subjects:
            assert m(s) == rx.re2_match(s), (pattern, s)
            assert g(s) == rx.re2_groups(s), (pattern, s)


def test_relabeler_reuses_unchanged_pairs() -> None:
    r = relabel.Relabeler(relabel.parse([{"target_label": "cluster", "replacement": "c1"}]))
    lbls = (("__name__", "up"), ("job", "x"))
    out = r.apply(lbls)
    assert out == (("__name__", "up"), ("cluster", "c1"), ("job", "x"))
    assert out[0] is lbls[0] and out[2] is lbls[1]
