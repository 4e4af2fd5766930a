"""Relabel rule parsing and validation, as Prometheus' ``model/relabel/relabel.go``.

``parse`` takes the YAML-decoded ``relabel_configs`` list, fills Prometheus' defaults
(``DefaultRelabelConfig``: action replace, separator ``;``, regex ``(.*)``, replacement ``$1``),
checks types, rejects unknown keys, and validates each rule per action exactly as
``Config.Validate`` does. Errors are ``RelabelConfigError`` naming the rule index and field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from relabel._compiled import Step, compile_step
from relabel._expand import Template, compile_template
from relabel._names import is_valid_label_name
from relabel._regex import GoRegex, RegexError

__all__ = [
    "ACTIONS",
    "DEFAULT_REGEX",
    "DEFAULT_REPLACEMENT",
    "DEFAULT_SEPARATOR",
    "RelabelConfigError",
    "Rule",
    "is_valid_label_name",
    "parse",
]

ACTIONS = (
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
)
DEFAULT_SEPARATOR = ";"
DEFAULT_REGEX = "(.*)"
DEFAULT_REPLACEMENT = "$1"
_FIELDS = (
    "source_labels",
    "separator",
    "target_label",
    "regex",
    "modulus",
    "replacement",
    "action",
)
_SCHEMES = ("utf8", "legacy")
# Prometheus' relabelTargetLegacy. Nested quantifiers: matched with RE2 (linear), never `re`.
_RELABEL_TARGET_LEGACY: Any = re2.compile(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$")


class RelabelConfigError(ValueError):
    """An invalid relabel rule. ``index`` is the rule's position in the list; ``field`` the
    offending key, or ``None`` when the rule as a whole is wrong."""

    def __init__(self, index: int, field: str | None, message: str) -> None:
        self.index = index
        self.field = field
        self.reason = message
        where = f"[{index}]" + (f".{field}" if field else "")
        super().__init__(f"{where}: {message}")


def _valid_name_with_vars(value: str, scheme: str) -> bool:
    if scheme == "legacy":
        return _RELABEL_TARGET_LEGACY.search(value) is not None
    return is_valid_label_name(value, scheme)


@dataclass(frozen=True, slots=True)
class Rule:
    """One relabel rule with Prometheus' field names. ``regex`` is the user's pattern as
    written (Prometheus anchors it as ``^(?s:…)$``). Compiled state is excluded from
    equality/hash, so two rules from the same YAML compare equal."""

    source_labels: tuple[str, ...] = ()
    separator: str = DEFAULT_SEPARATOR
    target_label: str = ""
    regex: str = DEFAULT_REGEX
    modulus: int = 0
    replacement: str = DEFAULT_REPLACEMENT
    action: str = "replace"
    validation_scheme: str = "utf8"
    # True when the YAML did not set `regex` (Prometheus compares against the default
    # Regexp *object*, so an explicit `regex: (.*)` is not "the default").
    regex_is_default: bool = True
    compiled: GoRegex = field(default=None, compare=False, hash=False, repr=False)  # type: ignore[assignment]
    target_template: Template = field(default=(), compare=False, hash=False, repr=False)
    replacement_template: Template = field(default=(), compare=False, hash=False, repr=False)
    # replace rule that just copies the joined source value: regex (.*), replacement $1 and a
    # literal target (the most common rule). Same result as the general path, fewer steps.
    copies_value: bool = field(default=False, compare=False, hash=False, repr=False)
    # labelmap: label name -> mapped name (None: no match). Names repeat across series.
    name_memo: dict[str, str | None] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )
    # The rule compiled to a closure over its precomputed state (see relabel._compiled):
    # what ``process`` runs. Always derived from the fields above, never passed in.
    step: Step = field(init=False, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        # A Rule built directly (not via parse) gets its compiled state here; parse() has
        # validated its rules, a direct construction is trusted as is.
        if self.compiled is None:
            rx = _compile(self.regex)
            object.__setattr__(self, "compiled", rx)
            object.__setattr__(
                self,
                "target_template",
                compile_template(self.target_label, rx.group_count, rx.group_names),
            )
            object.__setattr__(
                self,
                "replacement_template",
                compile_template(self.replacement, rx.group_count, rx.group_names),
            )
            object.__setattr__(
                self,
                "copies_value",
                self.action == "replace"
                and self.regex == DEFAULT_REGEX
                and self.replacement == DEFAULT_REPLACEMENT
                and "$" not in self.target_label,
            )
        object.__setattr__(self, "step", compile_step(self))

    def describe(self) -> str:
        """A compact one-line YAML-ish rendering, for traces and logs."""
        parts = [f"action: {self.action}"]
        if self.source_labels:
            parts.append(f"source_labels: [{', '.join(self.source_labels)}]")
        if self.separator != DEFAULT_SEPARATOR:
            parts.append(f"separator: {self.separator!r}")
        if self.action not in ("keepequal", "dropequal") and (
            not self.regex_is_default or self.action in ("keep", "drop", "labelmap")
        ):
            parts.append(f"regex: {self.regex!r}")
        if self.target_label:
            parts.append(f"target_label: {self.target_label}")
        if self.action == "hashmod":
            parts.append(f"modulus: {self.modulus}")
        if self.action in ("replace", "labelmap"):
            parts.append(f"replacement: {self.replacement!r}")
        return "{" + ", ".join(parts) + "}"


def _q(s: str) -> str:
    """Go's ``%q``, near enough for messages."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _type_name(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Mapping):
        return "mapping"
    if isinstance(v, list | tuple):
        return "list"
    return type(v).__name__


def _as_string(index: int, key: str, v: object) -> str:
    # Go's yaml.v2 decodes any scalar into a string field using its text; null is "".
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    raise RelabelConfigError(index, key, f"expected a string, got {_type_name(v)} {v!r}")


def _parse_one(index: int, raw: object, scheme: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise RelabelConfigError(
            index, None, f"a relabel config must be a mapping, got {_type_name(raw)}"
        )
    for key in raw:
        if key not in _FIELDS:
            raise RelabelConfigError(
                index,
                str(key),
                f"unknown field {_q(str(key))} in relabel config (valid: {', '.join(_FIELDS)})",
            )

    # source_labels
    source: tuple[str, ...] | None = None
    if "source_labels" in raw and raw["source_labels"] is not None:
        sl = raw["source_labels"]
        if not isinstance(sl, list | tuple):
            raise RelabelConfigError(
                index, "source_labels", f"expected a list of label names, got {_type_name(sl)}"
            )
        names = []
        for item in sl:
            name = _as_string(index, "source_labels", item)
            # Prometheus 3 (prometheus/common LabelName.UnmarshalYAML) checks source label
            # names as UTF-8 whatever the scheme: a name that cannot exist just reads as "".
            if not is_valid_label_name(name, "utf8"):
                raise RelabelConfigError(
                    index, "source_labels", f"{_q(name)} is not a valid label name"
                )
            names.append(name)
        source = tuple(names)

    separator = (
        _as_string(index, "separator", raw["separator"])
        if "separator" in raw
        else DEFAULT_SEPARATOR
    )
    target = _as_string(index, "target_label", raw["target_label"]) if "target_label" in raw else ""
    replacement = (
        _as_string(index, "replacement", raw["replacement"])
        if "replacement" in raw
        else DEFAULT_REPLACEMENT
    )

    modulus = 0
    if "modulus" in raw and raw["modulus"] is not None:
        mv = raw["modulus"]
        if isinstance(mv, float) and mv.is_integer():
            mv = int(mv)
        if isinstance(mv, bool) or not isinstance(mv, int) or not 0 <= mv < 1 << 64:
            raise RelabelConfigError(
                index,
                "modulus",
                f"expected an unsigned 64-bit integer, got {_type_name(mv)} {mv!r}",
            )
        modulus = mv

    action = "replace"
    if "action" in raw:
        av = _as_string(index, "action", raw["action"])
        action = av.lower()
        if action == "":
            raise RelabelConfigError(index, "action", "relabel action cannot be empty")
        if action not in ACTIONS:
            raise RelabelConfigError(index, "action", f"unknown relabel action {_q(av)}")

    regex_is_default = "regex" not in raw
    pattern = DEFAULT_REGEX
    if not regex_is_default:
        pattern = _as_string(index, "regex", raw["regex"])  # null -> "" (matches only "")
    try:
        compiled = _compile(pattern)
    except RegexError as exc:
        raise RelabelConfigError(
            index, "regex", f"invalid regular expression {_q(pattern)}: {exc}"
        ) from None

    _validate(
        index, action, source, separator, target, regex_is_default, modulus, replacement, scheme
    )

    return Rule(
        source_labels=source or (),
        separator=separator,
        target_label=target,
        regex=pattern,
        modulus=modulus,
        replacement=replacement,
        action=action,
        validation_scheme=scheme,
        regex_is_default=regex_is_default,
        compiled=compiled,
        target_template=compile_template(target, compiled.group_count, compiled.group_names),
        replacement_template=compile_template(
            replacement, compiled.group_count, compiled.group_names
        ),
        copies_value=(
            action == "replace"
            and pattern == DEFAULT_REGEX
            and replacement == DEFAULT_REPLACEMENT
            and "$" not in target
        ),
    )


_COMPILED: dict[str, GoRegex] = {}


def _compile(pattern: str) -> GoRegex:
    rx = _COMPILED.get(pattern)
    if rx is None:
        rx = GoRegex(pattern)
        if len(_COMPILED) < 512:
            _COMPILED[pattern] = rx
    return rx


def _validate(
    index: int,
    action: str,
    source: tuple[str, ...] | None,
    separator: str,
    target: str,
    regex_is_default: bool,
    modulus: int,
    replacement: str,
    scheme: str,
) -> None:
    """Prometheus' ``Config.Validate``, check for check and in the same order."""

    def fail(fld: str | None, msg: str) -> RelabelConfigError:
        return RelabelConfigError(index, fld, msg)

    if modulus == 0 and action == "hashmod":
        raise fail("modulus", "relabel configuration for hashmod requires non-zero modulus")
    if (
        action in ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal")
        and target == ""
    ):
        raise fail(
            "target_label",
            f"relabel configuration for {action} action requires 'target_label' value",
        )
    if action == "replace" and "$" not in target and not is_valid_label_name(target, scheme):
        raise fail("target_label", f"{_q(target)} is invalid 'target_label' for {action} action")
    if action == "replace" and "$" in target and not _valid_name_with_vars(target, scheme):
        raise fail("target_label", f"{_q(target)} is invalid 'target_label' for {action} action")
    if action in ("lowercase", "uppercase", "keepequal", "dropequal") and not is_valid_label_name(
        target, scheme
    ):
        raise fail("target_label", f"{_q(target)} is invalid 'target_label' for {action} action")
    if (
        action in ("lowercase", "uppercase", "keepequal", "dropequal")
        and replacement != DEFAULT_REPLACEMENT
    ):
        raise fail("replacement", f"'replacement' can not be set for {action} action")
    if action == "labelmap" and not _valid_name_with_vars(replacement, scheme):
        raise fail("replacement", f"{_q(replacement)} is invalid 'replacement' for {action} action")
    if action == "hashmod" and not is_valid_label_name(target, scheme):
        raise fail("target_label", f"{_q(target)} is invalid 'target_label' for {action} action")
    if action in ("keepequal", "dropequal"):
        extra = [
            name
            for name, bad in (
                ("regex", not regex_is_default),
                ("modulus", modulus != 0),
                ("separator", separator != DEFAULT_SEPARATOR),
                ("replacement", replacement != DEFAULT_REPLACEMENT),
            )
            if bad
        ]
        if extra:
            raise fail(
                extra[0],
                f"{action} action requires only 'source_labels' and `target_label`, "
                "and no other fields",
            )
    if action in ("labeldrop", "labelkeep"):
        extra = [
            name
            for name, bad in (
                ("source_labels", source is not None),
                ("target_label", target != ""),
                ("modulus", modulus != 0),
                ("separator", separator != DEFAULT_SEPARATOR),
                ("replacement", replacement != DEFAULT_REPLACEMENT),
            )
            if bad
        ]
        if extra:
            raise fail(extra[0], f"{action} action requires only 'regex', and no other fields")


def parse(
    configs: Sequence[Mapping[str, Any]] | None, *, validation_scheme: str = "utf8"
) -> list[Rule]:
    """Parse a YAML-decoded ``relabel_configs`` list into rules (``None`` -> no rules).

    ``validation_scheme`` is ``"utf8"`` (Prometheus 3 default: any non-empty UTF-8 label name)
    or ``"legacy"`` (``[a-zA-Z_][a-zA-Z0-9_]*``).
    """
    if validation_scheme not in _SCHEMES:
        raise ValueError(f"validation_scheme must be one of {_SCHEMES}, got {validation_scheme!r}")
    if configs is None:
        return []
    if not isinstance(configs, list | tuple):
        raise RelabelConfigError(
            0, None, f"relabel configs must be a list, got {_type_name(configs)}"
        )
    return [_parse_one(i, raw, validation_scheme) for i, raw in enumerate(configs)]
