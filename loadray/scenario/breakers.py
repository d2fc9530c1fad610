"""Circuit breakers: ``abort_when: "<metric> <op> <value> for <duration>"`` -> :class:`Breaker`.

The rule reads exactly like a threshold's (same metrics, units and messages, from
:mod:`loadray.metric`); ``for`` is how long it must hold before the run is stopped.
``abort_when`` is one string or a list of them. A breaker acts during the run, so its
metric must be one judged live. It may be scoped to a step (``"p99{step=login} > 1s for
5s"``): it then reads that step's live figures, and the step must be one the scenario has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import item_path, show
from loadray.metric import BREAKER_EXAMPLE, Breaker, parse_breaker_rule
from loadray.scenario.thresholds import judged_live, unknown_step


def parse_breakers(value: Any, path: str = "abort_when", steps: Sequence[str] | None = None) -> tuple[Breaker, ...]:
    """``steps``: the row step names of the scenario, to refuse a breaker scoped to
    another (None: not checked)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (parse_breaker(value, path, steps),)
    if not isinstance(value, list):
        raise ScenarioError(
            path, f"must be a string or a list of strings like {BREAKER_EXAMPLE}, got {show(value)}"
        )
    return tuple(parse_breaker(expr, item_path(path, i), steps) for i, expr in enumerate(value))


def parse_breaker(expr: str, path: str, steps: Sequence[str] | None = None) -> Breaker:
    if not isinstance(expr, str):
        raise ScenarioError(path, f"must be a string like {BREAKER_EXAMPLE}, got {show(expr)}")
    try:
        rule, for_s = parse_breaker_rule(expr)
    except ValueError as exc:
        raise ScenarioError(path, str(exc)) from None
    judged_live(rule, path, "a breaker cannot stop the run on it; use it in thresholds instead")
    unknown_step(rule.step, path, steps)
    return Breaker(expr=expr, rule=rule, for_s=for_s)
