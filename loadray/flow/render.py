"""A flow step rendered against the variables of one flow instance: pure, no I/O."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from loadray.flow.templates import to_text

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
_ABSOLUTE = ("http://", "https://")


@dataclass(frozen=True)
class Rendered:
    """One request ready to send."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    timeout_s: float | None = None  # None: the client's default
    version: int = 1  # HTTP version the step is sent with (1: HTTP/1.1, 2: HTTP/2)
    stream: Any = None  # the step's loadray.stream.StreamSpec: record each chunk's arrival


def render_step(
    step,  # loadray.scenario.model.Step (not imported: the scenario model imports this package)
    base_url: str,
    headers: tuple[tuple[str, str], ...],
    values: Mapping[str, object],
    rng: random.Random,
) -> Rendered:
    """Render ``step``; a variable missing from ``values`` raises MissingVariable."""
    path = step.path.render(values, rng)
    url = path if path.startswith(_ABSOLUTE) else base_url.rstrip("/") + path
    if step.query:
        query = urlencode([(name, t.render(values, rng)) for name, t in step.query])
        url += ("&" if "?" in url else "?") + query
    rendered = [*headers, *((name, t.render(values, rng)) for name, t in step.headers)]
    body = None
    if step.body is not None:
        body, content_type = _body(step.body, values, rng)
        if content_type and not any(name.lower() == "content-type" for name, _ in rendered):
            rendered.append(("Content-Type", content_type))
    return Rendered(step.method, url, tuple(rendered), body, step.timeout_s, step.http_version, step.stream)


def _body(body, values: Mapping[str, object], rng: random.Random) -> tuple[bytes, str | None]:
    value = body.template.render(values, rng)
    if body.kind == "json":
        return json.dumps(value, separators=(",", ":")).encode(), JSON_TYPE
    if body.kind == "form":
        return urlencode({k: to_text(v) for k, v in value.items()}).encode(), FORM_TYPE
    return value.encode(), None
