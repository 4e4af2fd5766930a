"""Applying relabel rules: Prometheus' ``relabel.Process`` semantics, exactly.

The label state mirrors Prometheus' ``labels.Builder`` closely enough to reproduce its only
order-dependent behaviour: ``labelmap`` iterates a snapshot of the labels in Builder order
(untouched input labels sorted by name, then labels set during relabelling, in the order they
were first set since their last deletion), so when two source labels map to the same target the
later one wins, as in Prometheus.

Two implementations of the same semantics: ``apply_rule`` on a ``_State`` is the straightforward
reference (``reference_process``; ``process_trace`` uses it to explain each step), and each
rule's precompiled closure ``Rule.step`` (``relabel._compiled``) is what ``process``,
``process_in_place`` and ``Relabeler`` run. Tests check that the two agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from relabel._case import go_lower, go_upper
from relabel._config import Rule, is_valid_label_name
from relabel._expand import expand

__all__ = ["Relabeler", "process", "process_in_place", "reference_process"]

Labels = tuple[tuple[str, str], ...]
_NAME_MEMO_SIZE = 4096


class _State:
    """A minimal ``labels.Builder``: ``cur`` holds the live labels in Builder range order."""

    __slots__ = ("cur", "added")

    def __init__(self, cur: dict[str, str]) -> None:
        self.cur = cur
        self.added: set[str] = set()

    def set(self, name: str, value: str) -> None:
        cur = self.cur
        if value == "":
            cur.pop(name, None)
            self.added.discard(name)
            return
        if name not in self.added:
            cur.pop(name, None)  # a base label moves behind the untouched ones
            self.added.add(name)
        cur[name] = value

    def delete(self, name: str) -> None:
        self.cur.pop(name, None)
        self.added.discard(name)


def _source_value(rule: Rule, cur: Mapping[str, str]) -> str:
    src = rule.source_labels
    if len(src) == 1:
        return cur.get(src[0], "")
    return rule.separator.join([cur.get(n, "") for n in src])


def apply_rule(rule: Rule, st: _State) -> bool:
    """Apply one rule to the state; False means the label set is dropped."""
    cur = st.cur
    action = rule.action
    if action == "drop":
        return not rule.compiled.match(_source_value(rule, cur))
    if action == "keep":
        return rule.compiled.match(_source_value(rule, cur))
    if action == "replace":
        val = _source_value(rule, cur)
        if rule.copies_value:
            # ^(?s:(.*))$ matches any value and $1 is all of it
            st.set(rule.target_label, val)
            return True
        if (
            val == ""
            and rule.regex_is_default
            and "$" not in rule.target_label
            and "$" not in rule.replacement
        ):
            st.set(rule.target_label, rule.replacement)
            return True
        groups = rule.compiled.groups(val)
        if groups is None:
            return True
        target = expand(rule.target_template, groups)
        if not is_valid_label_name(target, rule.validation_scheme):
            return True  # Prometheus: silently skip an invalid expanded target
        st.set(target, expand(rule.replacement_template, groups))
        return True
    if action == "labeldrop":
        match = rule.compiled.match
        for name in [n for n in cur if match(n)]:
            st.delete(name)
        return True
    if action == "labelkeep":
        match = rule.compiled.match
        for name in [n for n in cur if not match(n)]:
            st.delete(name)
        return True
    if action == "labelmap":
        memo = rule.name_memo
        for name, value in list(cur.items()):
            if name in memo:
                mapped = memo[name]
            else:
                groups = rule.compiled.groups(name)
                mapped = None if groups is None else expand(rule.replacement_template, groups)
                if len(memo) >= _NAME_MEMO_SIZE:
                    memo.clear()
                memo[name] = mapped
            if mapped is not None:
                st.set(mapped, value)
        return True
    if action == "hashmod":
        digest = hashlib.md5(
            _source_value(rule, cur).encode("utf-8", "surrogateescape"), usedforsecurity=False
        ).digest()
        st.set(rule.target_label, str(int.from_bytes(digest[8:], "big") % rule.modulus))
        return True
    if action == "lowercase":
        st.set(rule.target_label, go_lower(_source_value(rule, cur)))
        return True
    if action == "uppercase":
        st.set(rule.target_label, go_upper(_source_value(rule, cur)))
        return True
    if action == "keepequal":
        return cur.get(rule.target_label, "") == _source_value(rule, cur)
    if action == "dropequal":
        return cur.get(rule.target_label, "") != _source_value(rule, cur)
    raise ValueError(f"unknown relabel action {action!r}")  # parse() never lets this through


def initial_state(labels: Mapping[str, str]) -> _State:
    items = sorted(labels.items())
    return _State({k: v for k, v in items if v != ""})


def reference_process(labels: Mapping[str, str], rules: Sequence[Rule]) -> dict[str, str] | None:
    """``process`` done the straightforward way (``apply_rule`` on a ``_State``): the
    reference that the compiled rules (``Rule.step``) are tested against."""
    st = initial_state(labels)
    for rule in rules:
        if not apply_rule(rule, st):
            return None
    return dict(sorted(st.cur.items()))


def _sorted_dict(cur: dict[str, str]) -> dict[str, str]:
    """``cur`` (a private copy) sorted by name; itself when already sorted (a sorted input that
    the rules did not add to: building the new dict is the larger part of the cost)."""
    names = sorted(cur)
    if names == list(cur):
        return cur
    return {k: cur[k] for k in names}


def process(labels: Mapping[str, str], rules: Sequence[Rule]) -> dict[str, str] | None:
    """Apply ``rules`` in order to ``labels``: the new label set (sorted by name, no empty
    values), or ``None`` when a rule dropped it. The input is never modified."""
    cur = dict(labels)
    if not all(cur.values()):  # an empty value is no label
        cur = {k: v for k, v in cur.items() if v != ""}
    added: set[str] = set()
    for rule in rules:
        if not rule.step(cur, added):
            return None
    return _sorted_dict(cur)


def process_in_place(labels: dict[str, str], rules: Sequence[Rule]) -> dict[str, str] | None:
    """``process`` without the copy and the sort, for a caller that owns ``labels`` and sorts
    the result itself: relabels ``labels`` in place and returns it (same labels as ``process``
    returns, no empty values, in no particular order), or ``None`` when a rule dropped the set
    (``labels`` is then left half-relabelled). The input order does not matter."""
    cur = labels
    if not all(cur.values()):  # an empty value is no label
        for k in [k for k, v in cur.items() if v == ""]:
            del cur[k]
    added: set[str] = set()
    for rule in rules:
        if not rule.step(cur, added):
            return None
    return cur


_MISS: object = object()


class Relabeler:
    """Cached relabelling for the hot path (``metric_relabel_configs`` on every series).

    ``apply(labels)`` takes and returns canonical label tuples (sorted ``(name, value)`` pairs,
    no empty values); ``None`` means dropped. Results are memoised per input tuple, so a series
    seen before costs one dict lookup (plus hashing the tuple).

    The cache is bounded by a generation sweep: call ``sweep()`` periodically (e.g. once per
    scrape of the target). Entries not used since the previous sweep are dropped; entries used
    in the current generation survive. If more than ``max_entries`` distinct label sets arrive
    between two sweeps, a sweep happens on its own. With no rules, ``apply`` returns its
    argument and caches nothing.
    """

    __slots__ = ("rules", "max_entries", "_cache", "_old", "_noop", "promoted", "misses")

    def __init__(self, rules: Sequence[Rule], *, max_entries: int = 200_000) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.max_entries = max_entries
        self._cache: dict[Labels, Labels | None] = {}
        self._old: dict[Labels, Labels | None] = {}
        self._noop = not self.rules
        self.promoted = 0
        self.misses = 0

    def apply(self, labels: Labels) -> Labels | None:
        if self._noop:
            return labels
        cache = self._cache
        out = cache.get(labels, _MISS)
        if out is not _MISS:
            return out  # type: ignore[return-value]
        return self._slow(labels)

    def _slow(self, labels: Labels) -> Labels | None:
        out = self._old.pop(labels, _MISS)
        if out is _MISS:
            self.misses += 1
            out = self._compute(labels)
        else:
            self.promoted += 1
        if len(self._cache) >= self.max_entries:
            self.sweep()
        self._cache[labels] = out  # type: ignore[assignment]
        return out  # type: ignore[return-value]

    def _compute(self, labels: Labels) -> Labels | None:
        cur = dict(labels)
        if not all(cur.values()):
            cur = {k: v for k, v in cur.items() if v != ""}
        added: set[str] = set()
        for rule in self.rules:
            if not rule.step(cur, added):
                return None
        result = tuple(sorted(cur.items()))
        if result == labels:
            return labels
        # Reuse the input's (name, value) pair objects where unchanged: cached results then
        # cost one tuple plus the new pairs, not a fresh pair per label.
        pairs = {p[0]: p for p in labels}
        return tuple(
            [q if (q := pairs.get(k)) is not None and q[1] == v else (k, v) for k, v in result]
        )

    def sweep(self) -> int:
        """Start a new cache generation; returns how many entries were evicted."""
        evicted = len(self._old)
        self._old = self._cache
        self._cache = {}
        return evicted

    def __len__(self) -> int:
        return len(self._cache) + len(self._old)
