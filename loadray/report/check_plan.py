"""The scenario's checks by step, as the rows name the step (``FLOW/STEP``, or the
flow's or request's own name for a one-step flow), each step's check names in the order
the engine evaluates them: what :func:`loadray.analysis.check_results` needs to count
the checks that passed (a passed check leaves nothing in the rows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadray.errors import LoadrayError
from loadray.redaction import redact_text

__all__ = ["check_plan"]


def _names(spec: Any, path: str, grpc: bool) -> list[str]:
    from loadray.flow.checks import compile_checks  # lazy: the flow layer sits above the report
    from loadray.flow.grpc_checks import grpc_checks

    try:
        return [c.name for c in (grpc_checks if grpc else compile_checks)(spec, path)]
    except (LoadrayError, TypeError, ValueError):  # an archive of another version: no pass counts
        return []


def _row_name(step: Mapping[str, Any]) -> str:
    """The name the rows give a step: its own, else the scenario reader's default
    (``METHOD /path``, or ``Service/Method`` for gRPC; :func:`loadray.scenario.steps.parse_step`)."""
    if step.get("name") is not None:
        return str(step["name"])
    grpc = step.get("grpc")
    if isinstance(grpc, Mapping):
        return redact_text(f"{grpc.get('service')}/{grpc.get('method')}")
    return redact_text(f"{str(step.get('method') or 'GET').upper()} {step.get('path') or '/'}")


def _steps(doc: Mapping[str, Any]) -> list[tuple[str, Any, str, bool]]:
    """(row step name, check spec, YAML path, a gRPC step) of every step with a ``check``."""
    found = []
    for i, request in enumerate(doc.get("requests") or []):
        if isinstance(request, Mapping) and request.get("check") is not None:
            found.append((_row_name(request), request["check"], f"requests[{i}].check", "grpc" in request))
    for i, flow in enumerate(doc.get("flows") or []):
        steps = (flow.get("steps") if isinstance(flow, Mapping) else None) or []
        for j, step in enumerate(steps):
            if isinstance(step, Mapping) and step.get("check") is not None:
                name = str(flow.get("name")) if len(steps) == 1 else f"{flow.get('name')}/{_row_name(step)}"
                found.append((name, step["check"], f"flows[{i}].steps[{j}].check", "grpc" in step))
    return found


def check_plan(doc: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{step: [check name, ...]}`` from the archived scenario document."""
    plan = {}
    for step, spec, path, grpc in _steps(doc):
        names = _names(spec, path, grpc)
        if names:
            plan[step] = names
    return plan
