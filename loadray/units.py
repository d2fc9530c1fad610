"""Parsing of human units shared by the scenario, the CLI and the target: durations,
percentages and sizes. Pure functions; errors are ``ValueError`` with a short message
that the caller prefixes with the YAML path or flag name. Every result is finite."""

from __future__ import annotations

import math
import re

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")
_SIZE_UNITS = {
    "": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmg]i?b|b)?", re.IGNORECASE)
_DURATION_HINT = "expected a duration like 250ms, 10s or 2m"


def parse_duration(value: object) -> float:
    """``"250ms"`` -> 0.25, ``"1m30s"`` -> 90.0, ``"7d"`` -> 604800.0, ``2`` (a bare
    number) -> 2.0 seconds. Infinite or overflowing values are refused."""
    if isinstance(value, bool):
        raise ValueError(f"{_DURATION_HINT}, got {shorten(value)}")
    if isinstance(value, (int, float)):
        return finite(value, _DURATION_HINT)
    if not isinstance(value, str):
        raise ValueError(f"{_DURATION_HINT}, got {shorten(value)}")
    text = value.strip().replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"{_DURATION_HINT}, got {shorten(value)}")
    if not math.isfinite(total):
        raise ValueError(f"{_DURATION_HINT}, got {shorten(value)} (too large)")
    return total


def parse_size(value: object) -> int:
    """Bytes from ``"1MiB"``, ``"500kB"``, ``"2GB"`` or a bare whole number of bytes."""
    hint = "expected a size like 512kB, 1MiB or 2GB"
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{hint}, got {value}")
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{hint}, got {shorten(value)}")
    size = float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]
    if not math.isfinite(size):
        raise ValueError(f"{hint}, got {shorten(value)} (too large)")
    return int(size)


def format_size(size: int) -> str:
    """``1048576`` -> ``'1MiB'``, ``6977869`` -> ``'6.7MiB'``, ``1500`` -> ``'1.5KiB'``."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            whole = size % factor == 0
            return f"{size // factor}{unit}" if whole else f"{size / factor:.1f}{unit}"
    return f"{size}B"


def format_number(value: float) -> str:
    """``1e7`` -> ``'10000000'``, ``2.5`` -> ``'2.5'``, ``1e300`` -> ``'1e+300'``."""
    if isinstance(value, int) and abs(value) < 10**19:
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}"


def finite(value: int | float, hint: str = "expected a finite number") -> float:
    """``value`` as a finite float; ``ValueError`` for inf, NaN and integers too large
    for a float (``int`` has no limit, ``float(10**400)`` overflows)."""
    try:
        result = float(value)
    except OverflowError:
        raise ValueError(f"{hint}, got {shorten(value)}") from None
    if not math.isfinite(result):
        raise ValueError(f"{hint}, got {value!r}")
    return result


def shorten(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages (an integer
    too long to print whole is described by its number of digits)."""
    if isinstance(value, int) and value.bit_length() > 3 * limit:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, (dict, list)):  # never the repr of a whole (alias-expanded) tree
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def parse_fraction(value: object) -> float:
    """``"0.5%"`` -> 0.005; a bare number is taken as a fraction (``0.005``)."""
    hint = "expected a percentage like 0.5% or a fraction"
    if isinstance(value, bool):
        raise ValueError(f"{hint}, got {shorten(value)}")
    if isinstance(value, (int, float)):
        return finite(value, hint)
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                return finite(float(text[:-1]) / 100.0, hint)
            return finite(float(text), hint)
        except ValueError:
            pass
    raise ValueError(f"{hint}, got {shorten(value)}")


def format_duration(seconds: float) -> str:
    """Short human form: 0.25 -> '250ms', 90 -> '90s'."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
