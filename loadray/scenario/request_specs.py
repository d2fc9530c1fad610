"""The ``requests`` list: each entry is a one-step flow named after the request.

An entry takes every step key (see :mod:`.steps`) plus ``weight``.
"""

from __future__ import annotations

from typing import Any

from loadray.fields import Fields, item_path, nonempty_list, unique
from loadray.scenario.flows import FlowContext, build_flow, weight
from loadray.scenario.model import Flow
from loadray.scenario.steps import STEP_KEYS, parse_step

REQUEST_KEYS = STEP_KEYS + ("weight",)


def parse_requests(value: Any, path: str, context: FlowContext) -> tuple[Flow, ...]:
    """Every entry as a one-step flow."""
    flows = []
    for i, item in enumerate(nonempty_list("request")(value, path)):
        fields = Fields(item, item_path(path, i), REQUEST_KEYS)
        share = weight(fields)
        parsed = parse_step(fields, context.retry, context.http_version, context.folder)
        flows.append(build_flow(parsed.step.name, share, [parsed], context))
    unique(((flow.name, item_path(path, i)) for i, flow in enumerate(flows)), "request")
    return tuple(flows)
