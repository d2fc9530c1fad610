"""A gRPC step rendered against one flow instance's variables: pure, no I/O."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadray.grpc.call import GrpcCall

__all__ = ["GrpcRendered", "render_grpc"]


@dataclass(frozen=True)
class GrpcRendered:
    """One call ready to send: the request message as a JSON value, the metadata."""

    call: GrpcCall
    message: Any
    metadata: tuple[tuple[str, str], ...] = ()
    timeout_s: float | None = None  # None: the client's default deadline

    # what an HTTP request also has (read by the runner's generic code only)
    method = "POST"

    @property
    def url(self) -> str:
        return self.call.path


def render_grpc(step: Any, values: Mapping[str, object], rng: random.Random) -> GrpcRendered:
    """``step`` (a gRPC :class:`~loadray.scenario.model.Step`) rendered; a variable
    missing from ``values`` raises MissingVariable."""
    message = step.body.template.render(values, rng) if step.body is not None else {}
    metadata = tuple((name, t.render(values, rng)) for name, t in step.headers)
    return GrpcRendered(step.grpc, message, metadata, step.timeout_s)
