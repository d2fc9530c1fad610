"""Environment secrets out of the names a scenario gives its rows.

Flow, step and check names end up in every artefact (the samples' ``step`` and
``error`` columns, summary.json, the report, the live view): built from values the
environment gave (a default step name ``GET /users?key=${KEY}``, a check
``body_contains: ${EXPECTED}``), they are masked here, once, at load, with the secret
values of :func:`loadray.scenario.environment.resolve_env`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from loadray.errors import ScenarioError
from loadray.redaction import redact_text
from loadray.scenario.model import Flow, Scenario, Step

__all__ = ["mask_error", "mask_secrets"]


def mask_secrets(scenario: Scenario, secrets: frozenset[str]) -> Scenario:
    """The scenario with ``secrets`` kept and masked out of every flow, step and check name."""
    if not secrets:
        return scenario
    flows = tuple(_flow(flow, secrets) for flow in scenario.flows)
    return dataclasses.replace(scenario, flows=flows, secrets=secrets)


def mask_error(exc: ScenarioError, secrets: Iterable[str]) -> ScenarioError:
    """A validation error that may quote a value taken from the environment, masked."""
    message = redact_text(exc.message, secrets)
    return exc if message == exc.message else ScenarioError(exc.path, message)


def _flow(flow: Flow, secrets: frozenset[str]) -> Flow:
    steps = tuple(_step(step, secrets) for step in flow.steps)
    return dataclasses.replace(flow, name=redact_text(flow.name, secrets), steps=steps)


def _step(step: Step, secrets: frozenset[str]) -> Step:
    for check in step.checks:
        name = check.name  # a cached property of the check (computed here if not yet)
        masked = redact_text(name, secrets)
        if masked != name:
            check.__dict__["name"] = masked  # the cache's own slot: it pickles with the check
    return dataclasses.replace(step, name=redact_text(step.name, secrets))
