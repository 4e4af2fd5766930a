"""Prometheus' value syntaxes: durations (``model.Duration``), sizes (``units.Base2Bytes``), names."""

from __future__ import annotations

import re

_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS_MS = (
    365 * 24 * 3600 * 1000,
    7 * 24 * 3600 * 1000,
    24 * 3600 * 1000,
    3600 * 1000,
    60 * 1000,
    1000,
    1,
)
_MAX_DURATION_MS = (1 << 63) // 1_000_000  # time.Duration is int64 nanoseconds


def parse_duration(s: str) -> float:
    """Prometheus ``model.ParseDuration``: ``1h30m``, ``15s``, ``500ms``, ``1d``, ``1w``, ``1y``.

    Returns seconds. Fractions (``1.5s``) and unit-less numbers other than ``0`` are rejected, as
    in Prometheus.
    """
    if s == "":
        raise ValueError("empty duration string")
    if s == "0":
        return 0.0
    m = _DURATION_RE.match(s)
    if not m:
        raise ValueError(f'not a valid duration string: "{s}"')
    total = 0
    for part, unit in zip(m.groups(), _DURATION_UNITS_MS, strict=True):
        if part is not None:
            total += int(part) * unit
    if total >= _MAX_DURATION_MS:
        raise ValueError(f'duration out of range: "{s}"')
    return total / 1000.0


def format_duration(seconds: float) -> str:
    """Prometheus ``model.Duration.String()``: ``30s``, ``1m30s``, ``1h``, ``500ms``, ``0s``."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = []
    for unit_ms, name in (
        (365 * 24 * 3600 * 1000, "y"),
        (7 * 24 * 3600 * 1000, "w"),
        (24 * 3600 * 1000, "d"),
        (3600 * 1000, "h"),
        (60 * 1000, "m"),
        (1000, "s"),
        (1, "ms"),
    ):
        if ms >= unit_ms:
            n, ms = divmod(ms, unit_ms)
            out.append(f"{n}{name}")
    return "".join(out)


# units.Base2Bytes: "B", "KiB".."EiB" and the old spellings "KB".."EB", all powers of 1024.
_SIZE_UNITS: dict[str, int] = {"B": 1}
for _i, _p in enumerate("KMGTPE", start=1):
    _SIZE_UNITS[_p + "iB"] = 1024**_i
    _SIZE_UNITS[_p + "B"] = 1024**_i
_SIZE_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


def parse_size(s: str) -> int:
    """``units.ParseBase2Bytes``: ``512B``, ``10MB`` (= 10 MiB), ``1GiB``, ``1.5KB``; ``kB`` is rejected.

    A sign is allowed, as in Go (``-1KB`` is -1024); a bare number other than ``0`` has no unit and
    is an error."""
    orig = s
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise ValueError(f'invalid size "{orig}"')
    total = 0.0
    pos = 0
    while pos < len(s):
        m = _SIZE_PART.match(s, pos)
        if not m or m.end() == pos:
            raise ValueError(f'invalid size "{orig}"')
        whole, frac, unit = m.groups()
        if not whole and not frac:
            raise ValueError(f'invalid size "{orig}"')
        if unit == "":
            raise ValueError(
                f'size "{orig}" needs a unit (B, KiB, MiB, GiB, ... or KB, MB, GB, ... = powers of 1024)'
            )
        if unit not in _SIZE_UNITS:
            raise ValueError(
                f'unknown unit "{unit}" in size "{orig}" (use B, KiB, MiB, GiB, ... or KB, MB, GB, ...)'
            )
        value = float(int(whole or "0"))
        if frac:
            value += int(frac) / 10 ** len(frac)
        total += value * _SIZE_UNITS[unit]
        pos = m.end()
    if neg:
        return -int(total)
    if total >= 2**63:
        raise ValueError(f'size "{orig}" is too large')
    return int(total)


_LEGACY_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def valid_label_name(name: str, scheme: str) -> bool:
    """Prometheus' label-name check: legacy ``[a-zA-Z_][a-zA-Z0-9_]*``, utf8 any non-empty UTF-8."""
    if scheme == "legacy":
        return bool(_LEGACY_LABEL.match(name))
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def os_expand(s: str, mapping: dict[str, str] | None, missing: list[str] | None = None) -> str:
    """Go's ``os.Expand`` as Prometheus applies it to external_labels (``$$`` is ``$``)."""
    if "$" not in s:
        return s
    env = mapping or {}
    out: list[str] = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        rest = s[i + 1 :]
        name, width = _shell_name(rest)
        if name == "" and width > 0:
            pass  # invalid syntax: eat it, as Go does
        elif name == "":
            out.append("$")
        elif name == "$":
            out.append("$")
        else:
            val = env.get(name, "")
            if val == "" and missing is not None:
                missing.append(name)
            out.append(val)
        i += 1 + width
    return "".join(out)


def _is_special(c: str) -> bool:
    return c in "*#$@!?-" or c.isdigit()


def _is_alnum(c: str) -> bool:
    return c == "_" or ("0" <= c <= "9") or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _shell_name(s: str) -> tuple[str, int]:
    if s[0] == "{":
        if len(s) > 2 and _is_special(s[1]) and s[2] == "}":
            return s[1:2], 3
        for i in range(1, len(s)):
            if s[i] == "}":
                if i == 1:
                    return "", 2
                return s[1:i], i + 1
        return "", 1
    if _is_special(s[0]):
        return s[0:1], 1
    i = 0
    while i < len(s) and _is_alnum(s[i]):
        i += 1
    return s[:i], i
