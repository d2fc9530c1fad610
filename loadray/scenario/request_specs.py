"""The ``requests`` list: each entry is a one-step flow named after the request.

An entry takes every step key (see :mod:`.steps`) plus ``weight``. Entries whose step
is static (no templates, extraction, checks or retries) and has a relative path are
also given as fixed :class:`Request` objects, as before flows existed.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from loadray.scenario.fields import Fields, item_path, nonempty_list, unique
from loadray.scenario.flows import FlowContext, build_flow, weight
from loadray.scenario.model import Flow, Request, Step
from loadray.scenario.steps import STEP_KEYS, parse_step

REQUEST_KEYS = STEP_KEYS + ("weight",)
CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}


def parse_requests(
    value: Any, path: str, context: FlowContext
) -> tuple[tuple[Request, ...], tuple[Flow, ...]]:
    """The static requests and every entry as a one-step flow."""
    flows = []
    for i, item in enumerate(nonempty_list("request")(value, path)):
        fields = Fields(item, item_path(path, i), REQUEST_KEYS)
        share = weight(fields)
        parsed = parse_step(fields, context.retry)
        flows.append(build_flow(parsed.step.name, share, [parsed], context))
    unique(((flow.name, item_path(path, i)) for i, flow in enumerate(flows)), "request")
    requests = (fixed_request(flow.steps[0]) for flow in flows)
    return tuple(r for r in requests if r is not None), tuple(flows)


def fixed_request(step: Step) -> Request | None:
    """A static step with a relative path as fixed bytes; None otherwise. A ``json`` or
    ``form`` body gets its Content-Type unless the step sets one."""
    if not step.static or not step.path.source.startswith("/"):
        return None
    target = step.path.source
    if step.query:
        query = urlencode([(name, template.source) for name, template in step.query])
        target += ("&" if "?" in target else "?") + query
    headers = tuple((name, template.source) for name, template in step.headers)
    body = None
    if step.body is not None:
        kind, value = step.body.kind, step.body.template
        if kind == "raw":
            body = value.source.encode("utf-8")  # type: ignore[union-attr]
        else:
            data = value.value  # type: ignore[union-attr]
            text = json.dumps(data, separators=(",", ":")) if kind == "json" else urlencode(data)
            body = text.encode("utf-8")
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers += (("Content-Type", CONTENT_TYPES[kind]),)
    return Request(step.name, step.method, target, headers, body)
