"""Pass/fail thresholds: the ``thresholds:`` list -> :class:`Threshold` items.

A list item is either the rule (``"p99 < 500ms"``, read by :mod:`loadray.metric`, the
one grammar shared with ``abort_when`` breakers) or a mapping that adds live
behaviour: ``{threshold: "error_rate < 1%", abort_on_fail: true, delay: 5s}``. A
threshold that may stop the run must be on a metric judged live.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import Fields, boolean, duration, item_path, show
from loadray.metric import RULE_EXAMPLE, Rule, Threshold, parse_rule

THRESHOLD_KEYS = ("threshold", "abort_on_fail", "delay")
_MAPPING = f"{{threshold: {RULE_EXAMPLE}, abort_on_fail: true}}"


def parse_thresholds(value: Any, path: str = "thresholds") -> tuple[Threshold, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ScenarioError(
            path, f"must be a list of strings like {RULE_EXAMPLE} or mappings like {_MAPPING}, got {show(value)}"
        )
    return tuple(threshold_item(item, item_path(path, i)) for i, item in enumerate(value))


def threshold_item(value: Any, path: str) -> Threshold:
    """A list item: the expression, or ``{threshold, abort_on_fail, delay}``."""
    if isinstance(value, str):
        return parse_threshold(value, path)
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
    if threshold.abort_on_fail:
        judged_live(threshold.rule, path, "abort_on_fail cannot stop the run on it; keep it without abort_on_fail")
    return threshold


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
