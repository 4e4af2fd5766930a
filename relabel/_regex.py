"""Go-compatible regular expressions for relabelling.

Prometheus compiles every relabel regex as ``^(?s:<pattern>)$`` with Go's ``regexp`` package
(RE2 syntax, linear-time matching). We accept exactly what RE2 accepts (checked with the
``google-re2`` module, plus the few places where Go is stricter than C++ RE2: ``\\C``, duplicate
or non-ASCII capture group names) and match with RE2 semantics.

Speed: the ``re2`` Python binding costs about 1-4 us per call, Python's ``re`` about 0.1 us. So
patterns in a small, *provably equivalent* subset (literals, ``.``, classes, ``\\d\\w\\s``,
groups, alternation, quantifiers on single characters only) are translated to Python ``re``
syntax and matched with ``re.fullmatch``. In that subset no quantifier applies to something that
can match the empty string, so backtracking explores the same priority order that RE2 simulates
(leftmost-first, greedy/lazy as written) and the captured groups are identical. Backtracking cost
is bounded by ``len(value) ** k`` where ``k`` is the number of variable-width quantifiers, so the
Python engine is used only while that bound is small (``_RE_MAX_LEN``); longer values and every
other pattern go to RE2, which never backtracks (``(a+)+$`` on a long string stays fast).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import re2

__all__ = ["GoRegex", "RegexError"]


class RegexError(ValueError):
    """The pattern is not valid Go/RE2 syntax."""


_OPTIONS: Any = re2.Options()
_OPTIONS.log_errors = False  # RE2 otherwise prints every parse error on stderr

try:  # the binding's C++ object: ~4x cheaper per call than the pure-Python wrapper
    from re2 import _re2 as _native

    _NATIVE_RE2: Any = _native.RE2
    _ANCHOR_BOTH: Any = _native.RE2.Anchor.ANCHOR_BOTH
except (ImportError, AttributeError):  # pragma: no cover - depends on the binding's layout
    _NATIVE_RE2 = None
    _ANCHOR_BOTH = None

# Longest value matched with Python ``re``, by number of variable-width quantifiers in the
# pattern (0 or 1: backtracking is linear; beyond 3: always RE2).
_RE_MAX_LEN = {0: 1 << 62, 1: 1 << 62, 2: 2048, 3: 256}
_MAX_ALTERNATIVE_PRODUCT = 256
_MAX_PY_DEPTH = 50  # group nesting handed to Python's recursive parser
_MAX_GO_DEPTH = 1000  # Go's regexp/syntax maxHeight
# Per-regex memo of recent inputs (see GoRegex._memoize).
_MEMO_SIZE = 1024
_MEMO_MAX_LEN = 256
_NOT_CACHED: Any = object()

_GO_CAPTURE_NAME = re.compile(r"[A-Za-z0-9_]+")
_PY_CAPTURE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_GO_SPACE = "\\t\\n\\f\\r "  # Go's \s is [\t\n\f\r ] (no \v, unlike Python's ASCII \s)
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _encode(s: str) -> bytes:
    # surrogateescape round-trips bytes that were not valid UTF-8 when the value was decoded
    return s.encode("utf-8", "surrogateescape")


def _go_checks(pattern: str) -> None:
    """Reject what C++ RE2 accepts but Go's regexp/syntax rejects."""
    names: set[str] = set()
    i, n = 0, len(pattern)
    in_class = False
    depth = 0
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1] if i + 1 < n else ""
            if nxt == "Q" and not in_class:
                end = pattern.find("\\E", i + 2)
                i = n if end < 0 else end + 2
                continue
            if nxt == "C":
                raise RegexError("invalid escape sequence: `\\C`")
            i += 2
            continue
        if in_class:
            if c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end >= 0:
                    i = end + 2
                    continue
            if c == "]":
                in_class = False
            i += 1
            continue
        if c == "[":
            in_class = True
            i += 1
            # a ']' right after '[' or '[^' is a literal
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            continue
        if c == "(":
            depth += 1
            if depth > _MAX_GO_DEPTH:
                raise RegexError("expression nests too deeply")
        elif c == ")":
            depth -= 1
        if c == "(" and (pattern.startswith("(?P<", i) or pattern.startswith("(?<", i)):
            start = i + (4 if pattern.startswith("(?P<", i) else 3)
            end = pattern.find(">", start)
            if end >= 0:
                name = pattern[start:end]
                if not _GO_CAPTURE_NAME.fullmatch(name):
                    raise RegexError(f"invalid named capture: `{pattern[i : end + 1]}`")
                if name in names:
                    raise RegexError(f"duplicate capture group name: `{name}`")
                names.add(name)
                i = end + 1
                continue
        i += 1


class _Unsafe(Exception):
    pass


def _translate(pattern: str) -> tuple[str, int, int]:
    """Python ``re`` source equivalent to the Go pattern, with the largest number of
    variable-width quantifiers on one path through it and the product of alternative counts.
    Raises ``_Unsafe`` outside the proven subset."""
    out: list[str] = []
    i, n = 0, len(pattern)
    # one frame per open group (index 0: top level): [alternatives, worst closed branch's
    # variable-quantifier count, current branch's count]. A path's count is what matters:
    # alternatives are tried one after another, sequenced quantifiers multiply.
    frames: list[list[int]] = [[1, 0, 0]]
    product = 1
    last = "none"  # "atom" (one character, quantifiable), "quant", "other"
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise _Unsafe
            e = pattern[i + 1]
            i += 2
            if e in "dDwW":
                out.append("\\" + e)
                last = "atom"
            elif e == "s":
                out.append("[" + _GO_SPACE + "]")
                last = "atom"
            elif e == "S":
                out.append("[^" + _GO_SPACE + "]")
                last = "atom"
            elif e in "afnrtv":
                out.append("\\" + e)
                last = "atom"
            elif e in "bB":
                out.append("\\" + e)
                last = "other"
            elif e == "A":
                out.append("\\A")
                last = "other"
            elif e == "z":
                out.append("\\Z")
                last = "other"
            elif e in _ASCII_PUNCT:
                out.append("\\" + e)
                last = "atom"
            else:
                raise _Unsafe
        elif c == ".":
            out.append(".")
            last = "atom"
            i += 1
        elif c == "^":
            out.append("\\A")
            last = "other"
            i += 1
        elif c == "$":
            out.append("\\Z")
            last = "other"
            i += 1
        elif c == "[":
            j = i + 1
            parts = ["["]
            if j < n and pattern[j] == "^":
                parts.append("^")
                j += 1
            if j < n and pattern[j] == "]":
                raise _Unsafe
            items = 0
            while True:
                if j >= n:
                    raise _Unsafe
                d = pattern[j]
                if d == "]":
                    j += 1
                    break
                if d == "[" or d in "&~|":
                    raise _Unsafe
                if d == "\\":
                    if j + 1 >= n:
                        raise _Unsafe
                    e = pattern[j + 1]
                    if e in "dDwWafnrtv":
                        parts.append("\\" + e)
                    elif e == "s":
                        parts.append(_GO_SPACE)
                    elif e in _ASCII_PUNCT:
                        parts.append("\\" + e)
                    else:
                        raise _Unsafe
                    j += 2
                    items += 1
                    continue
                if d == "-":
                    # literal '-' only right before ']'; ranges are handled below
                    if j + 1 < n and pattern[j + 1] == "]" and items > 0:
                        parts.append("\\-")
                        j += 1
                        continue
                    raise _Unsafe
                if j + 2 < n and pattern[j + 1] == "-" and pattern[j + 2] != "]":
                    hi = pattern[j + 2]
                    if hi in "\\[]&~|-" or hi < d:
                        raise _Unsafe
                    parts.append(re.escape(d) + "-" + re.escape(hi))
                    j += 3
                    items += 1
                    continue
                parts.append(re.escape(d))
                j += 1
                items += 1
            parts.append("]")
            out.append("".join(parts))
            i = j
            last = "atom"
        elif c == "(":
            if pattern.startswith("(?:", i):
                out.append("(?:")
                i += 3
            elif pattern.startswith("(?P<", i) or pattern.startswith("(?<", i):
                start = i + (4 if pattern[i + 2] == "P" else 3)
                end = pattern.find(">", start)
                name = pattern[start:end] if end >= 0 else ""
                if not _PY_CAPTURE_NAME.fullmatch(name):
                    raise _Unsafe
                out.append(f"(?P<{name}>")
                i = end + 1
            elif pattern.startswith("(?", i):
                raise _Unsafe  # flags: (?i) folding differs between engines
            else:
                out.append("(")
                i += 1
            frames.append([1, 0, 0])
            if len(frames) > _MAX_PY_DEPTH:
                raise _Unsafe
            last = "other"
        elif c == ")":
            if len(frames) == 1:
                raise _Unsafe
            alts, worst, cur = frames.pop()
            product *= alts
            frames[-1][2] += max(worst, cur)
            out.append(")")
            i += 1
            last = "other"  # quantified groups are outside the subset
        elif c == "|":
            frame = frames[-1]
            frame[0] += 1
            frame[1] = max(frame[1], frame[2])
            frame[2] = 0
            out.append("|")
            i += 1
            last = "other"
        elif c in "*+?":
            if last != "atom":
                raise _Unsafe
            i += 1
            lazy = i < n and pattern[i] == "?"
            if lazy:
                i += 1
            out.append(c + ("?" if lazy else ""))
            frames[-1][2] += 1
            last = "quant"
        elif c == "{":
            m = _REPEAT.match(pattern, i)
            if m is None or last != "atom":
                raise _Unsafe
            lo = int(m.group(1))
            hi = m.group(3)
            if m.group(2) is None or (hi and int(hi) == lo):
                pass  # fixed width
            else:
                frames[-1][2] += 1
            i = m.end()
            lazy = i < n and pattern[i] == "?"
            if lazy:
                i += 1
            out.append(m.group(0) + ("?" if lazy else ""))
            last = "quant"
        else:
            out.append(re.escape(c))
            i += 1
            last = "atom"
    if len(frames) != 1:
        raise _Unsafe
    alts, worst, cur = frames[0]
    product *= alts
    return "".join(out), max(worst, cur), product


class GoRegex:
    """A relabel regex: the user's pattern, anchored as Prometheus does (``^(?s:…)$``).

    ``match(s)`` tells whether the whole string matches; ``groups(s)`` returns the submatches
    (index 0 = whole match; ``None`` for a group that did not participate) or ``None``.
    """

    __slots__ = (
        "pattern",
        "group_count",
        "group_names",
        "engine",
        "_re2",
        "_py",
        "_py_max_len",
        "_py_ascii_only",
        "match",
        "groups",
        "re2_match",
        "re2_groups",
        "uncached_match",
        "uncached_groups",
    )

    match: Callable[[str], bool]
    groups: Callable[[str], tuple[str | None, ...] | None]
    # The RE2 matchers, always available (used for long values and by equivalence tests).
    re2_match: Callable[[str], bool]
    re2_groups: Callable[[str], tuple[str | None, ...] | None]
    # The matchers without the memo (for benchmarks).
    uncached_match: Callable[[str], bool]
    uncached_groups: Callable[[str], tuple[str | None, ...] | None]

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        wrapped = "^(?s:" + pattern + ")$"
        compiled: Any
        try:
            compiled = re2.compile(wrapped, _OPTIONS)
        except re2.error as exc:
            msg = exc.args[0] if exc.args else str(exc)
            if isinstance(msg, bytes):
                msg = msg.decode("utf-8", "replace")
            raise RegexError(str(msg)) from None
        _go_checks(pattern)
        self.group_count: int = compiled.groups
        names: dict[str, int] = dict(compiled.groupindex)
        self.group_names: dict[str, int] = names
        self._re2: Any = compiled
        native: Any = None
        if _NATIVE_RE2 is not None:
            native = _NATIVE_RE2(_encode(wrapped), _OPTIONS)
            if not native.ok():  # pragma: no cover - same pattern compiled above
                native = None
        self._py: re.Pattern[str] | None = None
        self._py_max_len = -1
        # A leading (?i) on an ASCII pattern: Go folds k/K/U+212A and s/S/U+017F, Python's
        # ASCII mode only the ASCII pairs, so the two agree on ASCII values (others use RE2).
        self._py_ascii_only = False
        flags = re.ASCII
        body = pattern
        if pattern.startswith("(?i)") and pattern.isascii():
            body = pattern[4:]
            flags |= re.IGNORECASE
            self._py_ascii_only = True
        try:
            source, variable, product = _translate(body)
            if variable in _RE_MAX_LEN and product <= _MAX_ALTERNATIVE_PRODUCT:
                py = re.compile("(?s:" + source + ")", flags)
                if py.groups == self.group_count and dict(py.groupindex) == names:
                    self._py = py
                    self._py_max_len = _RE_MAX_LEN[variable]
        except (_Unsafe, re.error, RecursionError):
            self._py = None
        self.engine = "re" if self._py is not None else "re2"
        self._install(native)
        self._memoize()

    def _install(self, native: Any) -> None:
        py = self._py
        re2_match = self.re2_match = self._re2_matcher(native)
        re2_groups = self.re2_groups = self._re2_grouper(native)
        if py is None:
            self.match = re2_match
            self.groups = re2_groups
            return
        fullmatch = py.fullmatch
        limit = self._py_max_len
        if self._py_ascii_only:

            def match(s: str) -> bool:
                if len(s) > limit or not s.isascii():
                    return re2_match(s)
                return fullmatch(s) is not None

            def groups(s: str) -> tuple[str | None, ...] | None:
                if len(s) > limit or not s.isascii():
                    return re2_groups(s)
                m = fullmatch(s)
                if m is None:
                    return None
                return (s, *m.groups())

        elif limit >= 1 << 62:

            def match(s: str) -> bool:
                return fullmatch(s) is not None

            def groups(s: str) -> tuple[str | None, ...] | None:
                m = fullmatch(s)
                if m is None:
                    return None
                return (s, *m.groups())

        else:

            def match(s: str) -> bool:
                if len(s) > limit:
                    return re2_match(s)
                return fullmatch(s) is not None

            def groups(s: str) -> tuple[str | None, ...] | None:
                if len(s) > limit:
                    return re2_groups(s)
                m = fullmatch(s)
                if m is None:
                    return None
                return (s, *m.groups())

        self.match = match
        self.groups = groups

    def _memoize(self) -> None:
        """Put a small memo in front of ``match``/``groups``.

        Relabel inputs repeat a lot (label names for labelmap/labeldrop/labelkeep, metric names
        for keep/drop on ``__name__``): a dict hit costs ~40 ns against ~150-1000 ns for a match.
        The memo holds at most ``_MEMO_SIZE`` short strings and is emptied when full, so it
        costs little memory and adapts when the inputs change.
        """
        raw_match = self.uncached_match = self.match
        raw_groups = self.uncached_groups = self.groups
        match_memo: dict[str, bool] = {}
        groups_memo: dict[str, tuple[str | None, ...] | None] = {}

        def match(s: str) -> bool:
            r = match_memo.get(s)
            if r is None:
                r = raw_match(s)
                if len(s) <= _MEMO_MAX_LEN:
                    if len(match_memo) >= _MEMO_SIZE:
                        match_memo.clear()
                    match_memo[s] = r
            return r

        def groups(s: str) -> tuple[str | None, ...] | None:
            r = groups_memo.get(s, _NOT_CACHED)
            if r is _NOT_CACHED:
                r = raw_groups(s)
                if len(s) <= _MEMO_MAX_LEN:
                    if len(groups_memo) >= _MEMO_SIZE:
                        groups_memo.clear()
                    groups_memo[s] = r
            return r  # type: ignore[no-any-return]

        self.match = match
        self.groups = groups

    def _re2_matcher(self, native: Any) -> Callable[[str], bool]:
        if native is None:
            fullmatch = self._re2.fullmatch

            def match_wrapped(s: str) -> bool:
                return fullmatch(s) is not None

            return match_wrapped
        m = native.Match
        anchor = _ANCHOR_BOTH

        def match_native(s: str) -> bool:
            b = _encode(s)
            return bool(m(anchor, b, 0, len(b))[0][0] >= 0)

        return match_native

    def _re2_grouper(self, native: Any) -> Callable[[str], tuple[str | None, ...] | None]:
        if native is None:
            fullmatch = self._re2.fullmatch
            count = self.group_count

            def groups_wrapped(s: str) -> tuple[str | None, ...] | None:
                mo = fullmatch(s)
                if mo is None:
                    return None
                return tuple(mo.group(i) for i in range(count + 1))

            return groups_wrapped
        m = native.Match
        anchor = _ANCHOR_BOTH

        def groups_native(s: str) -> tuple[str | None, ...] | None:
            b = _encode(s)
            spans = m(anchor, b, 0, len(b))
            if spans[0][0] < 0:
                return None
            if s.isascii():
                return tuple(None if a < 0 else s[a:e] for a, e in spans)
            return tuple(
                None if a < 0 else b[a:e].decode("utf-8", "surrogateescape") for a, e in spans
            )

        return groups_native

    def __repr__(self) -> str:
        return f"GoRegex({self.pattern!r}, engine={self.engine})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoRegex) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)
