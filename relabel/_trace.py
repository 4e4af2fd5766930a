"""Step-by-step relabelling, for ``scrape-agent relabel`` and debugging."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from relabel._config import Rule, is_valid_label_name
from relabel._engine import _source_value, apply_rule, initial_state
from relabel._expand import expand

__all__ = ["TraceStep", "process_trace"]


@dataclass(frozen=True, slots=True)
class TraceStep:
    """What one rule did. ``after`` is ``None`` when this rule dropped the label set;
    ``matched`` tells whether the rule's condition held (regex matched, values equal, ...)."""

    index: int
    rule: Rule
    before: dict[str, str]
    after: dict[str, str] | None
    matched: bool
    note: str


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _src(rule: Rule) -> str:
    return "+".join(rule.source_labels) if rule.source_labels else "(no source_labels)"


def _explain(rule: Rule, before: Mapping[str, str], kept: bool) -> tuple[bool, str]:
    a = rule.action
    rx = _q(rule.regex)
    if a in (
        "keep",
        "drop",
        "replace",
        "hashmod",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
    ):
        val = _source_value(rule, before)
    else:
        val = ""
    if a in ("keep", "drop"):
        m = rule.compiled.match(val)
        verdict = "dropped" if not kept else "kept"
        return m, f"regex {rx} {'matched' if m else 'did not match'} {_q(val)} -> {verdict}"
    if a in ("keepequal", "dropequal"):
        other = before.get(rule.target_label, "")
        eq = other == val
        verdict = "dropped" if not kept else "kept"
        rel = "==" if eq else "!="
        return eq, f"{_q(val)} {rel} {rule.target_label}={_q(other)} -> {verdict}"
    if a == "replace":
        if (
            val == ""
            and rule.regex_is_default
            and "$" not in rule.target_label
            and "$" not in rule.replacement
        ):
            if rule.replacement == "":
                return True, f"source empty: delete {rule.target_label}"
            return True, f"source empty: set {rule.target_label}={_q(rule.replacement)}"
        groups = rule.compiled.groups(val)
        if groups is None:
            return False, f"regex {rx} did not match {_q(val)} -> unchanged"
        target = expand(rule.target_template, groups)
        if not is_valid_label_name(target, rule.validation_scheme):
            return True, (
                f"regex {rx} matched {_q(val)} but target {_q(target)} is not a valid label "
                "name -> unchanged"
            )
        res = expand(rule.replacement_template, groups)
        if res == "":
            return True, f"regex {rx} matched {_q(val)}: replacement is empty -> delete {target}"
        return True, f"regex {rx} matched {_q(val)} -> {target}={_q(res)}"
    if a in ("labeldrop", "labelkeep", "labelmap"):
        names = [n for n in before if rule.compiled.match(n)]
        if a == "labeldrop":
            return bool(names), f"regex {rx} dropped labels: {', '.join(names) or '(none)'}"
        if a == "labelkeep":
            gone = [n for n in before if n not in names]
            return bool(
                names
            ), f"regex {rx} kept {len(names)}, dropped: {', '.join(gone) or '(none)'}"
        pairs = []
        for n in names:
            g = rule.compiled.groups(n)
            if g is not None:
                pairs.append(f"{n}->{expand(rule.replacement_template, g)}")
        return bool(names), f"regex {rx} mapped: {', '.join(pairs) or '(none)'}"
    if a == "hashmod":
        return True, f"md5({_q(val)}) mod {rule.modulus} -> {rule.target_label}"
    # lowercase / uppercase
    return True, f"{a}({_q(val)}) -> {rule.target_label}"


def process_trace(
    labels: Mapping[str, str], rules: Sequence[Rule]
) -> tuple[dict[str, str] | None, list[TraceStep]]:
    """Like ``process``, also returning one ``TraceStep`` per rule applied (stops at a drop)."""
    st = initial_state(labels)
    steps: list[TraceStep] = []
    for i, rule in enumerate(rules):
        before = {k: st.cur[k] for k in sorted(st.cur)}
        kept = apply_rule(rule, st)
        matched, note = _explain(rule, before, kept)
        after = {k: st.cur[k] for k in sorted(st.cur)} if kept else None
        if after is not None and rule.action in ("hashmod", "lowercase", "uppercase"):
            note += f"={_q(after.get(rule.target_label, ''))}"
        steps.append(TraceStep(i, rule, before, after, matched, note))
        if not kept:
            return None, steps
    cur = st.cur
    return {k: cur[k] for k in sorted(cur)}, steps
