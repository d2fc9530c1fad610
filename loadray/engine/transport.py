"""The interface every transport implements, and the prepared request it sends.

A transport is callback-based so the hot path allocates nothing it does not need:
``submit(index, ctx, trace)`` starts request ``index`` (from the list given at
construction) and later calls ``on_done(ctx, status, error, bytes_in)`` exactly once, from the event
loop thread, whatever happens. ``status`` is 0 when no HTTP response arrived; ``error``
is ``None`` on a response below 400, else a kind from :mod:`loadray.kinds`.
``submit`` never raises and never blocks; the caller enforces the in-flight cap.
A transport that sends later than ``submit`` (aiohttp runs a task per request) passes
a fifth argument, the monotonic ns at which the request really started, so ``sent_ns``
stays true under saturation (None: when submitted). A transport that times the body
passes two more: the monotonic ns of its first byte (0: no body byte) and the chunks it
came in (HTTP/1.1 chunks when chunked, else the pieces read): the row's ``ttfb_ns``
and ``chunks``.

Trace propagation (W3C Trace Context): a nonzero ``trace`` (a positive int below
2**64) adds ``traceparent: 00-{trace_prefix}{trace:016x}-{trace:016x}-01`` to that
request, so the 128-bit trace id is the run's ``trace_prefix`` followed by the
request's own 64 bits, and the parent span id is those 64 bits again. With an empty
``trace_prefix`` no request ever carries the header.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadray.engine.clock import Clock, SystemClock

DoneCallback = Callable[..., None]  # (ctx, status, error, bytes_in[, sent_mono_ns[, first_mono_ns, chunks]])

ACCEPT_ENCODING = "gzip, deflate"  # sent when ``compression`` is on
USER_AGENT = "loadray"  # sent unless a request sets its own
_TRACE_PREFIX = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class PreparedRequest:
    """One request of the scenario, resolved against the target."""

    name: str
    method: str
    url: str  # absolute: scheme://host:port/path?query
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None


@dataclass(frozen=True)
class TransportSettings:
    connect_timeout_s: float = 5.0
    timeout_s: float = 10.0
    max_connections: int = 1000
    keepalive: bool = True
    verify: bool = True  # https: verify the server certificate (aiohttp transport)
    ca_file: str | None = None  # https: extra CA bundle to trust (PEM)
    cert_file: str | None = None  # https: client certificate (PEM; aiohttp transport)
    key_file: str | None = None  # its private key, when not in ``cert_file``
    redirects: int = 0  # 0: a 3xx is the answer; N: follow at most N (aiohttp transport)
    compression: bool = False  # send ``Accept-Encoding: gzip, deflate``; bodies stay raw
    trace_prefix: str = ""  # 16 lowercase hex digits: the high half of every trace id
    h2_connections: int = 1  # HTTP/2 steps: connections per origin (each carries many streams)

    def __post_init__(self) -> None:
        if self.trace_prefix and not _TRACE_PREFIX.fullmatch(self.trace_prefix):
            raise ValueError(f"trace_prefix must be 16 lowercase hex digits, not {self.trace_prefix!r}")
        if self.redirects < 0:
            raise ValueError(f"redirects must be >= 0, not {self.redirects}")
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file")


def traceparent(prefix: str, trace: int) -> str:
    """The ``traceparent`` header value of request ``trace`` under ``prefix``."""
    return f"00-{prefix}{trace:016x}-{trace:016x}-01"


class Transport(ABC):
    """Sends prepared requests; reports each outcome through ``on_done``."""

    def __init__(
        self, requests: list[PreparedRequest], settings: TransportSettings, on_done: DoneCallback,
        clock: Clock | None = None,
    ) -> None:
        self.requests = requests
        self.settings = settings
        self.on_done = on_done
        self.clock = clock or SystemClock()

    @abstractmethod
    async def open(self, prewarm: int = 0) -> None:
        """Get ready; open up to ``prewarm`` keep-alive connections in advance."""

    @abstractmethod
    def submit(self, index: int, ctx: Any, trace: int = 0) -> None:
        """Start ``requests[index]`` (with a ``traceparent`` when ``trace`` is nonzero
        and the settings have a ``trace_prefix``); ``on_done(ctx, ...)`` follows
        exactly once."""

    @abstractmethod
    async def close(self) -> None:
        """Abort what is in flight (each gets ``on_done(ctx, 0, "cut", 0)``), free sockets."""
