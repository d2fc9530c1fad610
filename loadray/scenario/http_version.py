"""HTTP/2 in a scenario: ``http: {version: 2, connections: N}`` for every step, or
``http: {version: 2}`` on one step; and what HTTP/2 steps cannot do, checked at
validation (each a one-line error naming the YAML path).

- ``version``: 1 (HTTP/1.1, the default) or 2 (HTTP/2: prior knowledge on ``http://``,
  ALPN ``h2`` on ``https://``);
- ``connections`` (scenario ``http`` only, needs HTTP/2 steps): HTTP/2 connections per
  origin per worker, 1 to :data:`MAX_CONNECTIONS`; requests are streams on them;
- an HTTP/2 step is sent by the HTTP/2 client: ``transport: fast`` or ``aiohttp``
  (HTTP/1.1 only) cannot send it; connection-specific headers (``Connection``, ``Keep-Alive``, ``Proxy-Connection``,
  ``Transfer-Encoding``, ``Upgrade``) do not exist in HTTP/2 and are refused.
"""

from __future__ import annotations

from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import Fields, choice, key_path
from loadray.scenario.model import Scenario, Step

__all__ = ["VERSIONS", "MAX_CONNECTIONS", "step_http", "read_version", "check_http2"]

VERSIONS = (1, 2)
MAX_CONNECTIONS = 1000
STEP_HTTP_KEYS = ("version",)
_FORBIDDEN = ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade")


def read_version(value: Any, path: str) -> int:
    """``1`` or ``2`` (``"2"``, ``2.0`` and ``"HTTP/2"`` too)."""
    text = str(value).strip().upper().removeprefix("HTTP/")
    read = choice("1", "1.1", "2", "2.0")
    try:
        return 2 if read(text, path).startswith("2") else 1
    except ScenarioError:
        raise ScenarioError(path, f"must be 1 or 2 (HTTP/1.1 or HTTP/2), got {value!r}") from None


def step_http(value: Any, path: str) -> int:
    """A step's ``http`` mapping: only ``version``; returns it."""
    fields = Fields(value, path, STEP_HTTP_KEYS)
    return fields.get("version", read_version)


def check_http2(scenario: Scenario) -> None:
    """What the HTTP/2 steps of ``scenario`` (if any) cannot do."""
    steps = [(f"flows[{i}].steps[{j}]", step) for i, flow in enumerate(scenario.flows)
             for j, step in enumerate(flow.steps)]
    h2_steps = [(where, step) for where, step in steps if step.http_version == 2]
    raw_http = scenario.source.get("http")
    if not h2_steps:
        if isinstance(raw_http, dict) and "connections" in raw_http:
            raise ScenarioError("http.connections", "is for HTTP/2 only; set http.version: 2 (or a step's)")
        return
    if scenario.transport != "auto":
        raise ScenarioError(
            "transport", f"{scenario.transport!r} speaks HTTP/1.1 only; HTTP/2 steps need transport: auto"
        )
    for name, _ in scenario.http.headers:
        _check_header(name, key_path("http.headers", name))
    for where, step in h2_steps:
        for name, _ in step.headers:
            _check_header(name, f"{_step_path(scenario, where)}.headers.{name}")


def _check_header(name: str, path: str) -> None:
    if name.lower() in _FORBIDDEN:
        raise ScenarioError(path, f"{name} is a connection-specific header, which HTTP/2 does not have; remove it")


def _step_path(scenario: Scenario, where: str) -> str:
    """The YAML path of a step: ``requests[i]`` for a plain request, else ``flows[i].steps[j]``."""
    if "flows" in scenario.source:
        return where
    return where.split(".", 1)[0].replace("flows", "requests")


def uses_http2(steps: list[Step]) -> bool:
    return any(step.http_version == 2 for step in steps)
