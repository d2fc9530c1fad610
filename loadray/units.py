"""Parsing of human units shared by the scenario, the CLI and the target: durations,
percentages and byte sizes. Pure functions; errors are ``ValueError`` with a short message that the
caller prefixes with the YAML path or flag name."""

from __future__ import annotations

import re

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(value: object) -> float:
    """``"250ms"`` -> 0.25, ``"1m30s"`` -> 90.0, ``2`` (a bare number) -> 2.0 seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 250ms, 10s or 2m, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like 250ms, 10s or 2m, got {value!r}")
    text = value.strip().replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"expected a duration like 250ms, 10s or 2m, got {value!r}")
    return total


_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
_SIZE = re.compile(r"(\d{1,15})\s*([kmg]i?b|b)?", re.IGNORECASE)


def parse_size(value: object) -> int:
    """``"1MiB"`` -> 1048576, ``"64kB"`` -> 64000, ``4096`` (a bare integer) -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected a size like 1MiB, 64KiB or 4096 (bytes), got {value!r}")
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()]


def parse_fraction(value: object) -> float:
    """``"0.5%"`` -> 0.005; a bare number is taken as a fraction (``0.005``)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a percentage like 0.5% or a fraction, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                return float(text[:-1]) / 100.0
            return float(text)
        except ValueError:
            pass
    raise ValueError(f"expected a percentage like 0.5% or a fraction, got {value!r}")


def format_duration(seconds: float) -> str:
    """Short human form: 0.25 -> '250ms', 90 -> '90s'."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
