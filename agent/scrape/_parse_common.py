"""Shared pieces of the exposition parsers: the error type, number rules, label-set scanning.

Number rules follow Go's ``strconv.ParseFloat`` as Prometheus uses it (``model/textparse``):
decimal floats, ``NaN``/``Inf``/``Infinity`` in any case with an optional sign on infinities,
no hex, no ``_`` and no ``p`` (Prometheus rejects them), no surrounding whitespace, and an
out-of-range literal (``1e400``) is an error rather than infinity.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

Label = tuple[str, str]

_INF = math.inf


class ParseError(ValueError):
    """An exposition that Prometheus would reject. ``str(e)`` is ``'line N: <reason>'``."""

    lineno: int
    reason: str

    def __init__(self, reason: str, lineno: int) -> None:
        self.lineno = lineno
        self.reason = reason
        super().__init__(f"line {lineno}: {reason}" if lineno > 0 else reason)


def quote(s: str, limit: int = 60) -> str:
    """A short double-quoted rendering of ``s`` for error messages."""
    if len(s) > limit:
        s = s[:limit] + "…"
    return '"' + s.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


_UNESCAPE_RE = re.compile(r'\\([\\"n])')
_HELP_UNESCAPE_RE = re.compile(r"\\([\\n])")


def _unesc(m: re.Match[str]) -> str:
    c = m.group(1)
    return "\n" if c == "n" else c


def unescape(s: str) -> str:
    """Label value escapes as Prometheus' lvalReplacer: ``\\\\``, ``\\"``, ``\\n``; others kept."""
    if "\\" not in s:
        return s
    return _UNESCAPE_RE.sub(_unesc, s)


def unescape_help(s: str) -> str:
    """HELP escapes of the text format: ``\\\\`` and ``\\n`` only."""
    if "\\" not in s:
        return s
    return _HELP_UNESCAPE_RE.sub(_unesc, s)


def parse_float(tok: str) -> float:
    """Parse a sample value as Prometheus does; raises ValueError with a reason."""
    if not tok:
        raise ValueError("empty value")
    if not tok.isascii() or "_" in tok or "p" in tok or "P" in tok:
        raise ValueError(f"unsupported character in float {quote(tok)}")
    if tok[0] <= " " or tok[-1] <= " ":
        raise ValueError(f"invalid float {quote(tok)}")
    try:
        v = float(tok)
    except ValueError:
        raise ValueError(f"invalid float {quote(tok)}") from None
    if v != v:
        if tok[0] in "+-":  # Go accepts "NaN" in any case but never with a sign
            raise ValueError(f"invalid float {quote(tok)}")
    elif (v == _INF or v == -_INF) and tok[-1] not in "fFyY":
        raise ValueError(f"float out of range {quote(tok)}")
    return v


def parse_go_int64(tok: str) -> int:
    """A text-format timestamp: ASCII digits only (the lexer's ``{D}+``), fits int64."""
    if not (tok.isascii() and tok.isdigit()):
        raise ValueError(f"invalid timestamp {quote(tok)}")
    v = int(tok)
    if v > 9223372036854775807:
        raise ValueError(f"timestamp out of range {quote(tok)}")
    return v


def format_om_float(f: float) -> str:
    """Prometheus' formatOpenMetricsFloat (Go ``FormatFloat(f, 'g', -1, 64)`` plus ``.0``)."""
    if f == 1:
        return "1.0"
    if f == 0:
        return "0.0"
    if f == -1:
        return "-1.0"
    if f != f:
        return "NaN"
    if f == _INF:
        return "+Inf"
    if f == -_INF:
        return "-Inf"
    sign, digits_t, exp = Decimal(repr(f)).as_tuple()
    assert isinstance(exp, int)
    raw = "".join(map(str, digits_t))
    digits = raw.rstrip("0") or "0"
    exp += len(raw) - len(digits)
    nd = len(digits)
    dp = nd + exp  # position of the decimal point relative to the digits
    x = dp - 1
    # strconv.FormatFloat(f, 'g', -1, 64): shortest digits; %e form when the decimal
    # exponent is < -4 or >= 6 (eprec is 6 for shortest formatting), exponent >= 2 digits.
    if x < -4 or x >= 6:
        s = digits[0] + ("." + digits[1:] if nd > 1 else "")
        s += "e" + ("-" if x < 0 else "+") + f"{abs(x):02d}"
    elif dp <= 0:
        s = "0." + "0" * (-dp) + digits
    elif dp >= nd:
        s = digits + "0" * (dp - nd)
    else:
        s = digits[:dp] + "." + digits[dp:]
    if sign:
        s = "-" + s
    if "e" not in s and "." not in s:
        s += ".0"
    return s
