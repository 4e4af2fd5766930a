"""Relabel rules compiled to closures: the fast path of ``process``.

``compile_step(rule)`` returns ``step(cur, added) -> bool`` (False: the label set is dropped),
with the same effect on the label state as ``relabel._engine.apply_rule`` (the straightforward
reference, used by ``process_trace``), but with everything that does not depend on the labels
decided once per rule:

- what the rule reads: no source label (a constant ``""``: keep/drop reduce to a constant), one
  label (a dict lookup, no join), several (a join);
- a ``replace`` whose target and replacement hold no group reference only needs to know
  *whether* the regex matches, not its groups, and the target's validity is known up front;
- regex results are memoised per rule for repeated inputs (metric names for keep/drop on
  ``__name__``: a page has a few hundred names for 100k+ series; label names for
  labeldrop/labelkeep/labelmap), in a bounded memo (emptied when full). Rules are shared by
  threads (the scrapes of one job's targets): a memo is either one dict read once per step or,
  for label names, an immutable snapshot replaced whole, so no step sees a half-updated memo;
- no per-rule objects: the closures work on the caller's ``cur`` dict and ``added`` set.

The label state (``cur``, ``added``) is the reference's ``_State`` unpacked: ``cur`` holds the
live labels, never an empty value; ``added`` the names set during relabelling. Unlike the
reference, ``cur`` need not start sorted: its order is only observable through ``labelmap``
(Prometheus ranges over its ``labels.Builder``: untouched input labels sorted by name, then the
labels set during relabelling in the order they were first set since their last deletion), so
the labelmap step rebuilds that order itself, and only when two or more labels map.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from relabel._case import go_lower, go_upper
from relabel._expand import Template, expand
from relabel._names import is_valid_label_name

if TYPE_CHECKING:
    from relabel._config import Rule

__all__ = ["Step", "compile_step"]

Step = Callable[[dict[str, str], set[str]], bool]

# Per-rule memo of regex results for recent inputs: at most _MEMO_SIZE entries (emptied when
# full, so it adapts when the inputs change), inputs longer than _MEMO_MAX_LEN not memoised.
_MEMO_SIZE = 1024
_MEMO_MAX_LEN = 256


def _set(cur: dict[str, str], added: set[str], name: str, value: str) -> None:
    """``labels.Builder.Set``: an empty value deletes; a label set for the first time (since its
    last deletion) moves behind the untouched ones."""
    if value == "":
        cur.pop(name, None)
        added.discard(name)
        return
    if name not in added:
        cur.pop(name, None)
        added.add(name)
    cur[name] = value


def _literal(t: Template) -> str | None:
    """The text of a template without group references, else None."""
    if not t:
        return ""
    if len(t) == 1 and isinstance(t[0], str):
        return t[0]
    return None


def _reader(rule: Rule) -> Callable[[dict[str, str]], str]:
    """The rule's source value: its source labels' values joined by the separator."""
    src = rule.source_labels
    if not src:
        return lambda cur: ""
    if len(src) == 1:
        name = src[0]
        return lambda cur: cur.get(name, "")
    sep = rule.separator
    if len(src) == 2:
        first, second = src
        return lambda cur: cur.get(first, "") + sep + cur.get(second, "")
    return lambda cur: sep.join([cur.get(n, "") for n in src])


def _memo_bool(raw: Callable[[str], bool]) -> tuple[dict[str, bool], Callable[[str], bool]]:
    """A bounded memo in front of a matcher: (memo, fill) where ``fill(s)`` computes, stores
    and returns the result for an input not in the memo."""
    memo: dict[str, bool] = {}

    def fill(s: str) -> bool:
        r = raw(s)
        if len(s) <= _MEMO_MAX_LEN:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[s] = r
        return r

    return memo, fill


def _const(result: bool) -> Step:
    if result:
        return lambda cur, added: True
    return lambda cur, added: False


def _keep_drop(rule: Rule) -> Step:
    keep = rule.action == "keep"
    src = rule.source_labels
    rx = rule.compiled
    if not src:
        return _const(rx.uncached_match("") is keep)
    memo, fill = _memo_bool(rx.uncached_match)
    get = memo.get
    if len(src) == 1:
        name = src[0]
        if keep:

            def keep_one(cur: dict[str, str], added: set[str]) -> bool:
                v = cur.get(name, "")
                r = get(v)
                return fill(v) if r is None else r

            return keep_one

        def drop_one(cur: dict[str, str], added: set[str]) -> bool:
            v = cur.get(name, "")
            r = get(v)
            return not (fill(v) if r is None else r)

        return drop_one
    read = _reader(rule)

    def keep_drop(cur: dict[str, str], added: set[str]) -> bool:
        v = read(cur)
        r = get(v)
        if r is None:
            r = fill(v)
        return r is keep

    return keep_drop


def _replace(rule: Rule) -> Step:
    target = rule.target_label
    src = rule.source_labels
    read = _reader(rule)
    if rule.copies_value:
        # ^(?s:(.*))$ matches any value and $1 is all of it
        if len(src) == 1:
            name = src[0]

            def copy_one(cur: dict[str, str], added: set[str]) -> bool:
                v = cur.get(name, "")
                if v == "":
                    cur.pop(target, None)
                    added.discard(target)
                    return True
                if target not in added:
                    cur.pop(target, None)
                    added.add(target)
                cur[target] = v
                return True

            return copy_one

        def copy(cur: dict[str, str], added: set[str]) -> bool:
            v = read(cur)
            if v == "":
                cur.pop(target, None)
                added.discard(target)
                return True
            if target not in added:
                cur.pop(target, None)
                added.add(target)
            cur[target] = v
            return True

        return copy

    # Prometheus: an empty source value with the default regex and no '$' anywhere sets the
    # replacement as is (without matching, and without checking the target name).
    empty_shortcut = rule.regex_is_default and "$" not in target and "$" not in rule.replacement
    static_value = rule.replacement
    if not src and empty_shortcut:
        # the source value is always "": a constant assignment (e.g. `cluster: x`)
        if static_value == "":

            def delete(cur: dict[str, str], added: set[str]) -> bool:
                cur.pop(target, None)
                added.discard(target)
                return True

            return delete

        def assign(cur: dict[str, str], added: set[str]) -> bool:
            if target not in added:
                cur.pop(target, None)
                added.add(target)
            cur[target] = static_value
            return True

        return assign

    rx = rule.compiled
    scheme = rule.validation_scheme
    lit_target = _literal(rule.target_template)
    lit_value = _literal(rule.replacement_template)
    if lit_target is not None and lit_value is not None:
        # no group reference: only whether the regex matches matters
        valid = is_valid_label_name(lit_target, scheme)
        memo, fill = _memo_bool(rx.uncached_match)
        get = memo.get

        def replace_static(cur: dict[str, str], added: set[str]) -> bool:
            v = read(cur)
            if v == "" and empty_shortcut:
                _set(cur, added, target, static_value)
                return True
            if not valid:
                return True  # matched or not, an invalid target changes nothing
            r = get(v)
            if r is None:
                r = fill(v)
            if r:
                _set(cur, added, lit_target, lit_value)
            return True

        return replace_static

    groups_of = rx.groups  # memoised per regex
    target_template = rule.target_template
    value_template = rule.replacement_template
    target_valid = None if lit_target is None else is_valid_label_name(lit_target, scheme)

    # (a '$' in the target or the replacement: no empty-source shortcut here)
    def replace(cur: dict[str, str], added: set[str]) -> bool:
        groups = groups_of(read(cur))
        if groups is None:
            return True
        if lit_target is not None:
            if not target_valid:
                return True
            name = lit_target
        else:
            name = expand(target_template, groups)
            if not is_valid_label_name(name, scheme):
                return True  # Prometheus: silently skip an invalid expanded target
        _set(cur, added, name, expand(value_template, groups))
        return True

    return replace


# A name memo's state: (hits, seen, targets) = the names the rule acts on (for labelmap: mapped
# to their new name), every name with a verdict, the values of ``hits``. Never modified once
# published: a new state replaces it whole, so a step reads one consistent snapshot even when
# threads relabel with the same rule at once (scrapes of one job's targets run in threads).
_NameState = tuple[dict[str, str], frozenset[str], frozenset[str]]


class _NameMemo:
    """Bounded memo of a rule's verdict on label names, checked against a label set with
    C-level set operations: ``seen.issuperset(cur)`` (every name known?) and
    ``cur.keys() & hits.keys()`` (the names the rule acts on)."""

    __slots__ = ("state", "raw")

    def __init__(self, raw: Callable[[str], str | None]) -> None:
        self.state: _NameState = ({}, frozenset(), frozenset())
        self.raw = raw  # name -> what the rule makes of it, None: the rule leaves it alone

    def learn(self, cur: dict[str, str]) -> _NameState:
        """A state that knows every name of ``cur`` (published, and returned)."""
        hits, seen, _ = self.state
        if len(seen) + len(cur) > _MEMO_SIZE:
            hits, seen = {}, frozenset()
        new = cur.keys() - seen
        hits = dict(hits)
        raw = self.raw
        for name in new:
            r = raw(name)
            if r is not None:
                hits[name] = r
        state = (hits, seen | new, frozenset(hits.values()))
        self.state = state
        return state


def _label_filter(rule: Rule) -> Step:
    """labeldrop / labelkeep: delete the labels whose name matches / does not match."""
    match = rule.compiled.uncached_match
    if rule.action == "labeldrop":
        memo = _NameMemo(lambda n: n if match(n) else None)
    else:
        memo = _NameMemo(lambda n: None if match(n) else n)

    def label_filter(cur: dict[str, str], added: set[str]) -> bool:
        hits, seen, _ = memo.state
        if not seen.issuperset(cur):
            hits, seen, _ = memo.learn(cur)
        for n in cur.keys() & hits.keys():
            del cur[n]
            added.discard(n)
        return True

    return label_filter


def _labelmap(rule: Rule) -> Step:
    groups_of = rule.compiled.uncached_groups
    template = rule.replacement_template

    def raw(name: str) -> str | None:
        groups = groups_of(name)
        return None if groups is None else expand(template, groups)

    memo = _NameMemo(raw)

    def labelmap(cur: dict[str, str], added: set[str]) -> bool:
        mapped, seen, targets = memo.state
        if not seen.issuperset(cur):
            mapped, seen, targets = memo.learn(cur)
        hits = cur.keys() & mapped.keys()
        if not hits:
            return True
        if len(hits) == 1:
            order: Any = hits
        elif added.isdisjoint(hits):
            # Builder order among the hits: untouched labels sorted by name, then the ones
            # set during relabelling in the order they were set (their order in cur)
            order = sorted(hits)
        else:
            order = sorted(hits - added)
            order += [n for n in cur if n in hits and n in added]
        if targets.isdisjoint(hits):
            # no hit is the target of another: reading the values as we go is reading them
            # from the snapshot Prometheus ranges over
            for n in order:
                m = mapped[n]
                if m not in added:
                    cur.pop(m, None)
                    added.add(m)
                cur[m] = cur[n]  # never "": cur holds no empty value
            return True
        values = [cur[n] for n in order]  # the snapshot: the sets below change cur
        for n, value in zip(order, values, strict=True):
            _set(cur, added, mapped[n], value)
        return True

    return labelmap


def _hashmod(rule: Rule) -> Step:
    read = _reader(rule)
    target = rule.target_label
    modulus = rule.modulus

    def hashmod(cur: dict[str, str], added: set[str]) -> bool:
        digest = hashlib.md5(
            read(cur).encode("utf-8", "surrogateescape"), usedforsecurity=False
        ).digest()
        _set(cur, added, target, str(int.from_bytes(digest[8:], "big") % modulus))
        return True

    return hashmod


def _case_map(rule: Rule) -> Step:
    read = _reader(rule)
    target = rule.target_label
    fn = go_lower if rule.action == "lowercase" else go_upper

    def case_map(cur: dict[str, str], added: set[str]) -> bool:
        _set(cur, added, target, fn(read(cur)))
        return True

    return case_map


def _equal(rule: Rule) -> Step:
    read = _reader(rule)
    target = rule.target_label
    keep = rule.action == "keepequal"

    def equal(cur: dict[str, str], added: set[str]) -> bool:
        return (cur.get(target, "") == read(cur)) is keep

    return equal


_BUILDERS: dict[str, Callable[[Rule], Step]] = {
    "keep": _keep_drop,
    "drop": _keep_drop,
    "replace": _replace,
    "labeldrop": _label_filter,
    "labelkeep": _label_filter,
    "labelmap": _labelmap,
    "hashmod": _hashmod,
    "lowercase": _case_map,
    "uppercase": _case_map,
    "keepequal": _equal,
    "dropequal": _equal,
}


def compile_step(rule: Rule) -> Step:
    """The rule as a closure; see the module docstring."""
    build = _BUILDERS.get(rule.action)
    if build is None:
        action = rule.action

        def unknown(cur: dict[str, str], added: set[str]) -> bool:
            # parse() never lets this through; a Rule built directly fails when applied
            raise ValueError(f"unknown relabel action {action!r}")

        return unknown
    return build(rule)
