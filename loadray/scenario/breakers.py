"""Circuit breakers: ``abort_when: "<metric> <op> <value> for <duration>"`` -> :class:`Breaker`.

The condition reads exactly like a threshold (same metrics, units and messages, from
:mod:`loadray.scenario.thresholds`); ``for`` is how long it must hold before the run is
stopped. ``abort_when`` is one string or a list of them.
"""

from __future__ import annotations

import math
import re
from typing import Any

from loadray.errors import ScenarioError
from loadray.scenario.fields import item_path, show
from loadray.scenario.model import Breaker
from loadray.scenario.thresholds import CONDITION, condition
from loadray.units import parse_duration

EXAMPLE = "'error_rate > 50% for 5s'"
_BREAKER = re.compile(rf"^{CONDITION}\s+for\s+(\S.*?)\s*$", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"^[0-9.]+$")
_FOR = re.compile(r"\sfor(\s|$)", re.IGNORECASE)


def parse_breakers(value: Any, path: str = "abort_when") -> tuple[Breaker, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (parse_breaker(value, path),)
    if not isinstance(value, list):
        raise ScenarioError(
            path, f"must be a string or a list of strings like {EXAMPLE}, got {show(value)}"
        )
    return tuple(parse_breaker(expr, item_path(path, i)) for i, expr in enumerate(value))


def parse_breaker(expr: str, path: str) -> Breaker:
    if not isinstance(expr, str):
        raise ScenarioError(path, f"must be a string like {EXAMPLE}, got {show(expr)}")
    match = _BREAKER.match(expr)
    if not match:
        missing = "" if _FOR.search(expr) else " (the 'for <duration>' part is required)"
        raise ScenarioError(
            path, f"expected '<metric> <op> <value> for <duration>' with op one of "
            f"< <= > >=, like {EXAMPLE}, got {expr!r}{missing}"
        )
    metric, op, value = condition(match, path)
    return Breaker(expr=expr, metric=metric, op=op, value=value, for_s=_for(match.group(4), path))


def _for(text: str, path: str) -> float:
    if _BARE_NUMBER.match(text):
        raise ScenarioError(path, f"for: {text!r} needs a unit, e.g. {text}s")
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ScenarioError(path, f"for: {exc}") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ScenarioError(path, f"for: must be a duration > 0, got {text!r}")
    return seconds
