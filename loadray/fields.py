"""Typed field readers: each check happens once, here, and names the YAML path.

A *reader* is a callable ``(value, path) -> typed value`` that raises
:class:`ScenarioError` with a one-line message. :class:`Fields` wraps one mapping of
the document: it rejects unknown keys up front, then reads keys with a reader and the
key's full path (``load.phases[1].rate``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from loadray.env_text import typed
from loadray.errors import ScenarioError
from loadray.units import finite, format_number, parse_duration, parse_fraction, shorten

T = TypeVar("T")
Reader = Callable[[Any, str], T]

ROOT = "(root)"
_MISSING: Any = object()
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def show(value: object) -> str:
    """A value as the user wrote it in YAML, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return shorten(value)


def key_path(parent: str, key: object) -> str:
    """``parent.key``; a key that is not short printable text is shown quoted and cut."""
    name = key if isinstance(key, str) and key.isprintable() and 0 < len(key) <= 60 else shorten(key)
    return f"{parent}.{name}" if parent else name


def item_path(parent: str, index: int) -> str:
    return f"{parent}[{index}]"


class Fields:
    """One mapping of the document, read key by key with full paths."""

    def __init__(self, value: object, path: str, keys: Iterable[str]) -> None:
        keys = tuple(keys)
        if value is None:  # an empty section (`http:` with everything commented out)
            value = {}
        if not isinstance(value, dict):
            raise ScenarioError(path or ROOT, f"must be a mapping, got {show(value)}")
        for key in value:
            if key not in keys:
                raise ScenarioError(
                    path or ROOT, f"unknown key {shorten(key)} (expected one of: {', '.join(keys)})"
                )
        self.value: dict[str, Any] = value
        self.path = path

    def __contains__(self, key: str) -> bool:
        return key in self.value

    def path_of(self, key: str) -> str:
        return key_path(self.path, key)

    def get(self, key: str, read: Reader[T], default: Any = _MISSING) -> T:
        """Read ``key`` with ``read``; a missing key gives ``default`` or 'is required'."""
        if key not in self.value:
            if default is _MISSING:
                raise ScenarioError(self.path_of(key), "is required")
            return default
        return read(self.value[key], self.path_of(key))


def _bound(value: float, raw: object, path: str, gt: float | None, ge: float | None,
           le: float | None) -> None:
    if gt is not None and not value > gt:
        raise ScenarioError(path, f"must be > {format_number(gt)}, got {show(raw)}")
    if ge is not None and not value >= ge:
        raise ScenarioError(path, f"must be >= {format_number(ge)}, got {show(raw)}")
    if le is not None and not value <= le:
        raise ScenarioError(path, f"must be <= {format_number(le)}, got {show(raw)}")


def integer(ge: int | None = None, le: int | None = None) -> Reader[int]:
    def read(value: Any, path: str) -> int:
        value = typed(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(path, f"must be an integer, got {show(value)}")
        _bound(value, value, path, None, ge, le)
        return value

    return read


def number(gt: float | None = None, ge: float | None = None, le: float | None = None) -> Reader[float]:
    def read(value: Any, path: str) -> float:
        value = typed(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ScenarioError(path, f"must be a number, got {show(value)}{_exponent_hint(value)}")
        try:
            result = finite(value, "must be a finite number")
        except ValueError as exc:
            raise ScenarioError(path, str(exc)) from None
        _bound(result, value, path, gt, ge, le)
        return result

    return read


def _exponent_hint(value: Any) -> str:
    """YAML 1.1 reads ``1e7`` (no dot) as text: say how to write it as a number."""
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+(\.\d*)?[eE][-+]?\d+\s*", value):
        if math.isfinite(float(value)):
            return f" (YAML reads {value.strip()} as text; write {float(value):.1e} or a plain number)"
    return ""


def duration(positive: bool = True) -> Reader[float]:
    """Seconds from ``250ms``/``10s``/``2m`` or a bare number of seconds; > 0 or >= 0."""

    def read(value: Any, path: str) -> float:
        value = typed(value)
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise ScenarioError(path, str(exc)) from None
        _bound(seconds, value, path, 0 if positive else None, None if positive else 0, None)
        return seconds

    return read


def fraction(value: Any, path: str) -> float:
    """``1%`` -> 0.01 or a bare fraction ``0.01``; within [0, 1]."""
    value = typed(value)
    try:
        result = parse_fraction(value)
    except ValueError as exc:
        raise ScenarioError(path, str(exc)) from None
    if not 0.0 <= result <= 1.0:
        raise ScenarioError(path, f"must be between 0% and 100%, got {show(value)}")
    return result


def boolean(value: Any, path: str) -> bool:
    value = typed(value)
    if not isinstance(value, bool):
        raise ScenarioError(path, f"must be true or false, got {show(value)}")
    return value


def string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ScenarioError(path, f"must be a string, got {show(value)}")
    if not value.strip():
        raise ScenarioError(path, "must not be empty")
    return value


def choice(*options: str, fold_case: bool = False) -> Reader[str]:
    """One of ``options``; with ``fold_case`` the input is matched case-insensitively."""

    def read(value: Any, path: str) -> str:
        key = value.upper() if fold_case and isinstance(value, str) else value
        if key not in options:
            raise ScenarioError(path, f"must be one of: {', '.join(options)}, got {show(value)}")
        return key

    return read


def nonempty_list(what: str) -> Reader[list[Any]]:
    """A non-empty list; ``what`` names one item for the 'empty' hint."""

    def read(value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise ScenarioError(path, f"must be a list, got {show(value)}")
        if not value:
            raise ScenarioError(path, f"must not be empty (add at least one {what})")
        return value

    return read


def one_or_many(value: Any, path: str) -> list[tuple[Any, str]]:
    """A single item or a non-empty list of items, each paired with its YAML path."""
    if isinstance(value, list):
        if not value:
            raise ScenarioError(path, "must not be empty")
        return [(item, item_path(path, i)) for i, item in enumerate(value)]
    return [(value, path)]


def is_identifier(name: str) -> bool:
    """A plain name a template can refer to (letters, digits, ``_``; no leading digit)."""
    return _IDENTIFIER.fullmatch(name) is not None


def unique(names: Iterable[tuple[str, str]], what: str) -> None:
    """``(name, item path)`` pairs; a repeated name raises at ``<item path>.name``."""
    first: dict[str, str] = {}
    for name, where in names:
        if name in first:
            raise ScenarioError(
                f"{where}.name", f"duplicate {what} name {name!r} (also {first[name]})"
            )
        first[name] = where


def existing_file(base_dir: str) -> Reader[str]:
    """A file path as written, resolved against ``base_dir``: the absolute path of an
    existing file (the error names the resolved path)."""

    def read(value: Any, path: str) -> str:
        resolved = os.path.abspath(os.path.join(base_dir, string(value, path)))
        if not os.path.exists(resolved):
            raise ScenarioError(path, f"no such file: {resolved}")
        if not os.path.isfile(resolved):
            raise ScenarioError(path, f"not a file: {resolved}")
        return resolved

    return read
