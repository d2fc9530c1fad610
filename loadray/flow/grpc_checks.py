"""A gRPC step's checks: ``status`` in gRPC codes (``OK``, ``NOT_FOUND`` or 0-16), then
``body_contains`` and ``json`` as for HTTP (over the response as JSON). Read by the
scenario (a step with ``grpc:``) and by the report (pass counts from the archived document)."""

from __future__ import annotations

from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import key_path, one_or_many, show
from loadray.flow.checks import Check, StatusIn, compile_checks
from loadray.kinds import GRPC_CODES

__all__ = ["grpc_checks"]


def grpc_checks(spec: Any, path: str) -> tuple[Check, ...]:
    """A gRPC step's checks: ``status`` in gRPC codes (``OK``, ``NOT_FOUND``, 5), then
    ``body_contains`` and ``json`` as for HTTP (over the response as JSON)."""
    if not isinstance(spec, dict) or "status" not in spec:
        return compile_checks(spec, path)
    rest = {k: v for k, v in spec.items() if k != "status"}
    return (_status(spec["status"], key_path(path, "status")), *compile_checks(rest, path))


def _status(spec: Any, path: str) -> StatusIn:
    codes: set[int] = set()
    for item, where in one_or_many(spec, path):
        if isinstance(item, str) and item.upper() in GRPC_CODES:
            codes.add(GRPC_CODES.index(item.upper()))
        elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item < len(GRPC_CODES):
            codes.add(item)
        else:
            raise ScenarioError(where, f"must be a gRPC status code (OK, NOT_FOUND, ... or 0-16), got {show(item)}")
    shown = ", ".join(GRPC_CODES[c] for c in sorted(codes))
    return StatusIn(frozenset(codes), frozenset(), f"grpc status in [{shown}]")
