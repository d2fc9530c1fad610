"""The ``flows`` list: named, weighted sequences of steps.

``{name, weight, steps}``: ``name`` is required and unique, ``weight`` (> 0, default 1)
is the flow's share of arrivals (open model) or of user iterations (closed model).
Step names are unique within a flow and must not equal a feeder's name (``NAME.x``
would be ambiguous).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import (
    Fields,
    item_path,
    nonempty_list,
    number,
    string,
    unique,
)
from loadray.flow.retry import NO_RETRY, RetryPolicy
from loadray.redaction import redact_text
from loadray.scenario.model import Feed, Flow
from loadray.scenario.steps import STEP_KEYS, ParsedStep, parse_step
from loadray.scenario.variables import check_variables

FLOW_KEYS = ("name", "weight", "steps")
DEFAULT_WEIGHT = 1.0
MAX_WEIGHT = 1e9  # weights are relative: a larger one is a typo


@dataclass(frozen=True)
class FlowContext:
    """What every step of the scenario may use: the feeders and the default retry policy."""

    feeds: tuple[Feed, ...] = ()
    retry: RetryPolicy = NO_RETRY
    http_version: int = 1  # the scenario's http.version: a step's default
    folder: str = "."  # files a step names (a gRPC step's .proto) are relative to it


def weight(fields: Fields) -> float:
    return fields.get("weight", number(gt=0, le=MAX_WEIGHT), DEFAULT_WEIGHT)


def parse_flows(value: Any, path: str, context: FlowContext) -> tuple[Flow, ...]:
    items = nonempty_list("flow")(value, path)
    flows = tuple(parse_flow(item, item_path(path, i), context) for i, item in enumerate(items))
    unique(((flow.name, item_path(path, i)) for i, flow in enumerate(flows)), "flow")
    return flows


def parse_flow(value: Any, path: str, context: FlowContext) -> Flow:
    fields = Fields(value, path, FLOW_KEYS)
    name = redact_text(fields.get("name", string))
    share = weight(fields)
    steps_path = fields.path_of("steps")
    steps = [
        parse_step(Fields(item, item_path(steps_path, i), STEP_KEYS), context.retry, context.http_version,
                   context.folder)
        for i, item in enumerate(fields.get("steps", nonempty_list("step")))
    ]
    return build_flow(name, share, steps, context)


def build_flow(name: str, share: float, steps: Sequence[ParsedStep], context: FlowContext) -> Flow:
    """Check step names and template variables; the flow of ``steps``."""
    unique(((p.step.name, p.path) for p in steps), "step")
    feeders = {feed.spec.name for feed in context.feeds}
    for parsed in steps:
        if parsed.step.name in feeders:
            raise ScenarioError(
                f"{parsed.path}.name",
                f"step {parsed.step.name!r} has the name of a feeder; rename one "
                f"('{parsed.step.name}.x' would be ambiguous)",
            )
    check_variables(name, steps, context.feeds)
    return Flow(name, tuple(p.step for p in steps), share)
