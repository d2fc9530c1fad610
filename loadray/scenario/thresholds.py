"""Pass/fail thresholds: the ``thresholds:`` list -> :class:`Threshold` items.

A list item is either the rule (``"p99 < 500ms"``, read by :mod:`loadray.metric`, the
one grammar shared with ``abort_when`` breakers) or a mapping that adds live
behaviour or a scope: ``{threshold: "error_rate < 1%", abort_on_fail: true, delay: 5s}``,
``{threshold: "p99 < 200ms", step: login}``. A threshold that may stop the run must be
on a metric judged live.

A threshold scoped to a step (``step:``, or the string form ``"p99{step=login} <
200ms"``) is judged at the end over that step's rows only; its ``expr`` is the string
form, whichever way it was written. With ``abort_on_fail`` it is also judged live, on
that step's live figures (:mod:`loadray.live.rules`), and may stop the run. The step is
a name rows carry in their ``step`` column: a request's name, ``FLOW/STEP`` for a step
of a multi-step flow (the names of the report's step table); an unknown one is refused
when the scenario's steps are known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import Fields, boolean, duration, item_path, show, string
from loadray.metric import RULE_EXAMPLE, Rule, Threshold, parse_rule, with_step

THRESHOLD_KEYS = ("threshold", "step", "abort_on_fail", "delay")
_MAPPING = f"{{threshold: {RULE_EXAMPLE}, abort_on_fail: true}}"
STEPS_SHOWN = 20  # known step names listed in the line refusing an unknown one


def parse_thresholds(value: Any, path: str = "thresholds", steps: Sequence[str] | None = None) -> tuple[Threshold, ...]:
    """``steps``: the row step names of the scenario, to refuse a threshold scoped to
    another (None: not checked, as when a report reads an archived scenario)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ScenarioError(
            path, f"must be a list of strings like {RULE_EXAMPLE} or mappings like {_MAPPING}, got {show(value)}"
        )
    return tuple(threshold_item(item, item_path(path, i), steps) for i, item in enumerate(value))


def threshold_item(value: Any, path: str, steps: Sequence[str] | None = None) -> Threshold:
    """A list item: the expression, or ``{threshold, step, abort_on_fail, delay}``."""
    if isinstance(value, str):
        return known_step(parse_threshold(value, path), path, steps)
    if not isinstance(value, dict):
        raise ScenarioError(
            path, f"must be a string like {RULE_EXAMPLE} or a mapping like {_MAPPING}, got {show(value)}"
        )
    fields = Fields(value, path, THRESHOLD_KEYS)
    threshold = replace(
        fields.get("threshold", parse_threshold),
        abort_on_fail=fields.get("abort_on_fail", boolean, False),
        delay_s=fields.get("delay", duration(positive=False), 0.0),
    )
    if "step" in fields:
        threshold = _scoped(threshold, fields.get("step", string), fields.path_of("step"))
    known_step(threshold, fields.path_of("step") if "step" in fields else path, steps)
    if threshold.abort_on_fail:
        judged_live(threshold.rule, path, "abort_on_fail cannot stop the run on it; keep it without abort_on_fail")
    return threshold


def _scoped(threshold: Threshold, step: str, path: str) -> Threshold:
    """``threshold`` judged over ``step`` only (``step:`` of a mapping)."""
    written = threshold.rule.step
    if written is not None and written != step:
        raise ScenarioError(path, f"{step!r} differs from the step the threshold names ({written!r}): keep one")
    expr = threshold.expr if written is not None else with_step(threshold.expr, step)
    return Threshold(expr=expr, rule=replace(threshold.rule, step=step), abort_on_fail=threshold.abort_on_fail,
                     delay_s=threshold.delay_s)


def known_step(threshold: Threshold, path: str, steps: Sequence[str] | None) -> Threshold:
    """Refuse a threshold scoped to a step the scenario does not have."""
    unknown_step(threshold.rule.step, path, steps)
    return threshold


def unknown_step(step: str | None, path: str, steps: Sequence[str] | None) -> None:
    """Refuse a rule scoped to ``step`` when ``steps`` (known) do not have it."""
    if step is None or steps is None or step in steps:
        return
    shown = ", ".join(steps[:STEPS_SHOWN]) + (", ..." if len(steps) > STEPS_SHOWN else "")
    raise ScenarioError(path, f"unknown step {step!r} (the steps are: {shown})")


def parse_threshold(expr: str, path: str) -> Threshold:
    if not isinstance(expr, str):
        raise ScenarioError(path, f"must be a string like {RULE_EXAMPLE}, got {show(expr)}")
    try:
        return Threshold(expr=expr, rule=parse_rule(expr))
    except ValueError as exc:
        raise ScenarioError(path, str(exc)) from None


def judged_live(rule: Rule, path: str, advice: str) -> None:
    """Refuse a rule that should act during the run on a metric not measured live."""
    why = rule.metric.why_not_live
    if why is not None:
        raise ScenarioError(path, f"metric {rule.metric.name!r} cannot be judged live ({why}): {advice}")
