"""The fast transport: the open-model front of the HTTP/1.1 core (:mod:`.http1`).

Request bytes are built once per :class:`PreparedRequest` at construction; a traced
request is one bytes join of parts built alongside, around the 16 hex digits of its
trace (the ``traceparent`` slot sits between the header lines and the blank line).
``submit`` is the core pool's own (``Pool.submit``: no Task, Future or timer per
request, not even a call in between); the pool reports each outcome straight to
``on_done``. The response body is counted
and discarded.

One transport talks to one ``host:port`` over plain ``http`` and never follows a
redirect; :mod:`.transport_choice` sends anything else (https, several hosts, ``redirects >
0``, framing headers the core does not speak) to the aiohttp transport.
"""

from __future__ import annotations

from binascii import hexlify
from typing import Any

from loadray.engine.clock import Clock
from loadray.engine.http1 import (
    HEAD,
    IDEMPOTENT,
    RETRY,
    UNSPOKEN_HEADERS,
    Conn,
    HeadConn,
    Pool,
    Prepared,
    endpoint,
    head_parts,
    split_http_url,
)
from loadray.engine.transport import DoneCallback, PreparedRequest, Transport, TransportSettings

__all__ = ["FastTransport", "build_request_bytes", "build_traced_parts", "traced_bytes", "unsupported_reason"]


def unsupported_reason(requests: list[PreparedRequest], settings: TransportSettings | None = None) -> str | None:
    """Why the fast transport cannot send these requests with these settings, or None."""
    if not requests:
        return "no requests"
    if settings is not None and settings.redirects:
        return f"it cannot follow redirects (redirects: {settings.redirects})"
    first = endpoint(requests[0].url)
    for req in requests:
        scheme, host, port = endpoint(req.url)
        if scheme != "http":
            return f"request {req.name!r} uses {scheme or 'no'} scheme (fast sends plain http only)"
        if not host:
            return f"request {req.name!r} has no host"
        if (scheme, host, port) != first:
            return "requests go to several hosts/ports (fast talks to one)"
        if req.method.upper() == "CONNECT":
            return f"request {req.name!r} uses method CONNECT"
        for name, _ in req.headers:
            if name.lower() in UNSPOKEN_HEADERS:
                return f"request {req.name!r} sets header {name}"
    return None


def _request_parts(req: PreparedRequest, keepalive: bool, compression: bool = False) -> tuple[bytes, bytes]:
    """``(head, tail)``: the request line and the header lines up to the request's own,
    then the other header lines, the blank line and the body; a header slot lies
    between the two (:func:`~loadray.engine.http1.wire.head_parts`). Raises ValueError
    naming the request."""
    try:
        split = split_http_url(req.url)
        netloc, target = split if split is not None else ("", "/")
        before, after = head_parts(req.method.upper(), target, netloc, req.headers, req.body, keepalive, compression)
    except ValueError as exc:
        raise ValueError(f"request {req.name!r}: {exc}") from None
    return before, after + b"\r\n" + (req.body or b"")


def build_request_bytes(req: PreparedRequest, keepalive: bool, compression: bool = False) -> bytes:
    """The exact bytes written for ``req``: request line, headers, body."""
    head, tail = _request_parts(req, keepalive, compression)
    return head + tail


def build_traced_parts(req: PreparedRequest, settings: TransportSettings) -> tuple[bytes, ...] | None:
    """``traced_bytes(parts, trace)`` is ``req`` carrying a traceparent; None when it
    never carries one (no ``trace_prefix``, or the request sets its own)."""
    if not settings.trace_prefix or any(name.lower() == "traceparent" for name, _ in req.headers):
        return None
    head, tail = _request_parts(req, settings.keepalive, settings.compression)
    # joined with the 16 hex digits of the trace: ...-{prefix}{hex}-{hex}-01
    return head + b"traceparent: 00-" + settings.trace_prefix.encode(), b"-", b"-01\r\n" + tail


def traced_bytes(parts: tuple[bytes, ...], trace: int) -> bytes:
    """The bytes of a request from its :func:`build_traced_parts`, carrying ``trace``."""
    return hexlify(trace.to_bytes(8, "big")).join(parts)


class FastTransport(Transport):
    """HTTP/1.1 keep-alive to one host:port over plain http; see the module docstring."""

    def __init__(
        self, requests: list[PreparedRequest], settings: TransportSettings, on_done: DoneCallback,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(requests, settings, on_done, clock)
        reason = unsupported_reason(requests, settings)
        if reason is not None:
            raise ValueError(f"fast transport: {reason}")
        _, host, port = endpoint(requests[0].url)
        methods = [r.method.upper() for r in requests]
        table: list[Prepared] = [  # by request index
            (build_request_bytes(r, settings.keepalive, settings.compression), build_traced_parts(r, settings),
             (RETRY if m in IDEMPOTENT else 0) | (HEAD if m == "HEAD" else 0))
            for r, m in zip(requests, methods)
        ]
        conn = HeadConn if "HEAD" in methods else Conn

        def fail(ctx: Any, kind: str, exc: BaseException | None) -> None:
            on_done(ctx, 0, kind, 0)

        self._pool = Pool(host, port, settings, on_done, fail, conn, table, self.clock.monotonic_ns)
        self.submit = self._pool.submit  # type: ignore[method-assign]  # the hot path: straight into the core

    async def open(self, prewarm: int = 0) -> None:
        await self._pool.open(prewarm)

    def submit(self, index: int, ctx: Any, trace: int = 0) -> None:
        self._pool.submit(index, ctx, trace)  # (an instance attribute calls the pool directly)

    async def close(self) -> None:
        await self._pool.close()

    @property
    def connections(self) -> int:
        """Live connections (connecting, busy or idle)."""
        return self._pool.connections
