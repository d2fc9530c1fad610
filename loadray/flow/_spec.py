"""Small readers for flow specs: each raises ScenarioError naming the YAML path.

Kept inside ``loadray.flow`` (rather than using ``loadray.scenario.fields``) so the
scenario loader can import this package without an import cycle.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from loadray.errors import ScenarioError
from loadray.units import parse_duration, shorten


def mapping(value: Any, path: str, keys: Iterable[str], required: Iterable[str] = ()) -> dict:
    """``value`` as a dict with only ``keys`` and every ``required`` key present."""
    keys = tuple(keys)
    if not isinstance(value, dict):
        raise ScenarioError(path, f"must be a mapping, got {type(value).__name__}")
    unknown = [key for key in value if key not in keys]
    if unknown:
        raise ScenarioError(path, f"unknown key {shorten(unknown[0])} (expected one of: {', '.join(keys)})")
    for key in required:
        if key not in value:
            raise ScenarioError(f"{path}.{key}", "is required")
    return value


def text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ScenarioError(path, f"must be a non-empty string, got {shorten(value)}")
    return value


def one_of(value: Any, path: str, options: Iterable[str]) -> str:
    options = tuple(options)
    if value not in options:
        raise ScenarioError(path, f"must be one of: {', '.join(options)}, got {shorten(value)}")
    return value


def integer(value: Any, path: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(path, f"must be an integer, got {shorten(value)}")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ScenarioError(path, f"must be {bounds}, got {value}")
    return value


def seconds(value: Any, path: str) -> float:
    """A duration (``250ms``, ``2s`` or a bare number of seconds), finite and >= 0."""
    try:
        result = parse_duration(value)
    except ValueError as exc:
        raise ScenarioError(path, str(exc)) from None
    if not math.isfinite(result) or result < 0:
        raise ScenarioError(path, f"must be a finite duration >= 0, got {shorten(value)}")
    return result


def items(value: Any, path: str) -> list[tuple[Any, str]]:
    """A single item or a list of items, each paired with its YAML path."""
    if isinstance(value, list):
        if not value:
            raise ScenarioError(path, "must not be empty")
        return [(item, f"{path}[{i}]") for i, item in enumerate(value)]
    return [(value, path)]
