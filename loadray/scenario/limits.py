"""The ``limits`` section: upper bounds on what a scenario may ask for.

A typo (``rate: 1e12``, ``duration: 100y``, ``users: 1e9``) is far likelier than intent,
so every such value has a bound with a clear message; the rare real case raises the
bound here, in the scenario (``limits: {max_rate: 5e7}``) or with ``--set``
(``--set limits.max_rate=50000000``). The bounds on input files apply before the file
is read, so only ``--set limits.max_scenario_size=...`` can raise the scenario file's.

Each limit has a ceiling of its own that no scenario can pass: every number stays
finite and every count fits in 64 bits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import Fields, duration, integer, number, show
from loadray.flow.feeders import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH
from loadray.units import format_size, parse_size

KEY = "limits"
DAY_S = 86_400.0

DEFAULT_MAX_RATE = 10_000_000.0  # cluster-wide requests (or flows) per second
DEFAULT_MAX_USERS = 100_000  # closed-model virtual users, cluster-wide
DEFAULT_MAX_DURATION_S = 7 * DAY_S  # the run, and any one duration in the scenario
DEFAULT_MAX_ATTEMPTS = 100  # retry.max_attempts
DEFAULT_MAX_SCENARIO_SIZE = 1024**2  # bytes of the scenario file
DEFAULT_MAX_FEEDER_SIZE = DEFAULT_MAX_BYTES  # bytes of each feeder file (16 MiB)
DEFAULT_MAX_VALUES = 1_000_000  # values in the document once YAML aliases are expanded
# DEFAULT_MAX_DEPTH (64): nesting of the document, and of a feeder's JSON rows

DEPTH_CEILING = 100  # deeper than this, the YAML parser itself is stopped


@dataclass(frozen=True)
class Limits:
    max_rate: float = DEFAULT_MAX_RATE
    max_users: int = DEFAULT_MAX_USERS
    max_duration_s: float = DEFAULT_MAX_DURATION_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_scenario_size: int = DEFAULT_MAX_SCENARIO_SIZE
    max_feeder_size: int = DEFAULT_MAX_FEEDER_SIZE
    max_values: int = DEFAULT_MAX_VALUES
    max_depth: int = DEFAULT_MAX_DEPTH


def _size(ceiling: int) -> Callable[[Any, str], int]:
    def read(value: Any, path: str) -> int:
        try:
            size = parse_size(value)
        except ValueError as exc:
            raise ScenarioError(path, str(exc)) from None
        if not 1 <= size <= ceiling:
            raise ScenarioError(path, f"must be between 1B and {format_size(ceiling)}, got {show(value)}")
        return size

    return read


def _days(value: Any, path: str) -> float:
    seconds = duration()(value, path)
    if seconds > 366 * DAY_S:
        raise ScenarioError(path, f"must be <= 366d, got {show(value)}")
    return seconds


# YAML key -> (Limits field, reader with the ceiling)
READERS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "max_rate": ("max_rate", number(gt=0, le=1e9)),
    "max_users": ("max_users", integer(ge=1, le=100_000_000)),
    "max_duration": ("max_duration_s", _days),
    "max_attempts": ("max_attempts", integer(ge=1, le=10_000)),
    "max_scenario_size": ("max_scenario_size", _size(1024**3)),
    "max_feeder_size": ("max_feeder_size", _size(16 * 1024**3)),
    "max_values": ("max_values", integer(ge=1, le=100_000_000)),
    "max_depth": ("max_depth", integer(ge=1, le=DEPTH_CEILING)),
}
assert {f for f, _ in READERS.values()} == {f.name for f in dataclass_fields(Limits)}


def parse_limits(value: Any, path: str = KEY) -> Limits:
    fields = Fields(value, path, READERS)
    given = {attr: fields.get(key, read) for key, (attr, read) in READERS.items() if key in fields}
    return Limits(**given)


def resolve_limits(doc: dict[str, Any], overrides: Iterable[str] = ()) -> Limits:
    """The document's ``limits`` with the ``--set limits.KEY=VALUE`` overrides applied,
    read before anything else (and without copying the rest of the document)."""
    from loadray.scenario.overrides import limit_overrides

    section = doc.get(KEY)
    if section is not None and not isinstance(section, dict):
        return parse_limits(section)  # raises: must be a mapping
    merged = dict(section or {})
    merged.update(limit_overrides(overrides))
    return parse_limits(merged)


def hint(key: str) -> str:
    """How to raise one limit, for the end of a message."""
    return f"raise limits.{key} if you mean it"
