"""Circuit breakers: ``abort_when: "<metric> <op> <value> for <duration>"`` -> :class:`Breaker`.

The rule reads exactly like a threshold's (same metrics, units and messages, from
:mod:`loadray.metric`); ``for`` is how long it must hold before the run is stopped.
``abort_when`` is one string or a list of them. A breaker acts during the run, so its
metric must be one judged live.
"""

from __future__ import annotations

from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import item_path, show
from loadray.metric import BREAKER_EXAMPLE, Breaker, parse_breaker_rule
from loadray.scenario.thresholds import judged_live


def parse_breakers(value: Any, path: str = "abort_when") -> tuple[Breaker, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (parse_breaker(value, path),)
    if not isinstance(value, list):
        raise ScenarioError(
            path, f"must be a string or a list of strings like {BREAKER_EXAMPLE}, got {show(value)}"
        )
    return tuple(parse_breaker(expr, item_path(path, i)) for i, expr in enumerate(value))


def parse_breaker(expr: str, path: str) -> Breaker:
    if not isinstance(expr, str):
        raise ScenarioError(path, f"must be a string like {BREAKER_EXAMPLE}, got {show(expr)}")
    try:
        rule, for_s = parse_breaker_rule(expr)
    except ValueError as exc:
        raise ScenarioError(path, str(exc)) from None
    judged_live(rule, path, "a breaker cannot stop the run on it; use it in thresholds instead")
    if rule.step is not None:
        raise ScenarioError(path, f"a breaker cannot be scoped to a step (live figures are kept for the whole "
                                  f"run, not per step): use {rule.scoped_name} in thresholds instead")
    return Breaker(expr=expr, rule=rule, for_s=for_s)
