"""Prometheus unit words -> UCUM, as the collector's ``prometheus.UnitWordToUCUM``."""

from __future__ import annotations

_WORD_TO_UCUM = {
    # time
    "days": "d",
    "hours": "h",
    "minutes": "min",
    "seconds": "s",
    "milliseconds": "ms",
    "microseconds": "us",
    "nanoseconds": "ns",
    # bytes
    "bytes": "By",
    "kibibytes": "KiBy",
    "mebibytes": "MiBy",
    "gibibytes": "GiBy",
    "tibibytes": "TiBy",
    "kilobytes": "KBy",
    "megabytes": "MBy",
    "gigabytes": "GBy",
    "terabytes": "TBy",
    # SI
    "meters": "m",
    "volts": "V",
    "amperes": "A",
    "joules": "J",
    "watts": "W",
    "grams": "g",
    # misc
    "celsius": "Cel",
    "hertz": "Hz",
    "ratio": "1",
    "percent": "%",
}

_PER_WORD_TO_UCUM = {
    "second": "s",
    "minute": "m",
    "hour": "h",
    "day": "d",
    "week": "w",
    "month": "mo",
    "year": "y",
}


def unit_word_to_ucum(unit: str) -> str:
    """``seconds`` -> ``s``, ``bytes_per_second`` -> ``By/s``; unknown words pass through."""
    if not unit:
        return ""
    first, sep, per = unit.partition("_per_")
    out = _WORD_TO_UCUM.get(first, first)
    if sep and per:
        out += "/" + _PER_WORD_TO_UCUM.get(per, per)
    return out
