"""Parsing of human units shared by the scenario, the CLI and the target: durations and
percentages. Pure functions; errors are ``ValueError`` with a short message that the
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
