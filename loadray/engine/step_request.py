"""What a flow step hands its client: the rendered request and the attempt's trace
header kept apart, so the HTTP/1.1 core can reuse the bytes of a step that renders
the same every time and only splice in the trace.

It reads like a :class:`~loadray.flow.render.Rendered` (``method``, ``url``,
``headers`` with the ``traceparent`` last, ``body``, ``timeout_s``, ``stream``), which is all
the aiohttp client looks at.
"""

from __future__ import annotations

from loadray.flow.render import Rendered
from loadray.stream.spec import StreamSpec

__all__ = ["StepRequest"]


class StepRequest:
    """``base`` plus ``traceparent`` (None: the attempt carries no trace header; the
    header's value as text, or as ASCII bytes: what the HTTP/1.1 core splices in as it
    is); ``fixed``: ``base`` is the one object every attempt of the step sends."""

    __slots__ = ("base", "traceparent", "fixed")

    def __init__(self, base: Rendered, traceparent: str | bytes | None, fixed: bool) -> None:
        self.base = base
        self.traceparent = traceparent
        self.fixed = fixed

    @property
    def method(self) -> str:
        return self.base.method

    @property
    def url(self) -> str:
        return self.base.url

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        trace = self.traceparent
        if trace is None:
            return self.base.headers
        return (*self.base.headers, ("traceparent", trace if isinstance(trace, str) else trace.decode("ascii")))

    @property
    def body(self) -> bytes | None:
        return self.base.body

    @property
    def timeout_s(self) -> float | None:
        return self.base.timeout_s

    @property
    def version(self) -> int:
        return self.base.version

    @property
    def stream(self) -> StreamSpec | None:
        return self.base.stream
