"""What ``transport: fast`` cannot do, checked at validation.

The fast transport sends fixed bytes in the open model; anything else needs
``transport: auto`` (which picks for itself) or ``aiohttp``. The engine still checks
what only the URLs tell (https, a second host).
"""

from __future__ import annotations

from loadray.errors import ScenarioError
from loadray.scenario.model import Scenario, Step


def check_transport(scenario: Scenario) -> None:
    if scenario.transport != "fast":
        return
    reason = fast_blocker(scenario)
    if reason is not None:
        raise ScenarioError(
            "transport", f"'fast' cannot {reason}; use transport: auto or aiohttp"
        )


def fast_blocker(scenario: Scenario) -> str | None:
    """What in ``scenario`` the fast transport cannot do; None when it can send it."""
    if scenario.model == "closed":
        return "run the closed model (load.model: closed)"
    if scenario.feeds:
        return "read feeders (feeders)"
    if scenario.http.tls.cert_file is not None:
        return "present a TLS client certificate (http.tls.cert)"
    if scenario.http.redirects:
        return "follow redirects (http.redirects)"
    for flow in scenario.flows:
        if len(flow.steps) > 1:
            return f"run multi-step flows (flow {flow.name!r})"
        feature = _dynamic_feature(flow.steps[0])
        if feature is not None:
            return f"{feature} (step {flow.steps[0].name!r})"
    return None


def _dynamic_feature(step: Step) -> str | None:
    if step.grpc is not None:
        return "call gRPC"
    if step.extract:
        return "extract variables"
    if step.checks:
        return "run checks"
    if step.retry.max_attempts > 1:
        return "retry"
    if step.timeout_s is not None:
        return "apply a per-step timeout"
    if not step.static:
        return "render templates"
    return None
