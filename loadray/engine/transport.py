"""The interface every transport implements, and the prepared request it sends.

A transport is callback-based so the hot path allocates nothing it does not need:
``submit(index, ctx)`` starts request ``index`` (from the list given at construction)
and later calls ``on_done(ctx, status, error, bytes_in)`` exactly once, from the event
loop thread, whatever happens. ``status`` is 0 when no HTTP response arrived; ``error``
is ``None`` on a response below 400, else a kind from :mod:`loadray.engine.errors`.
``submit`` never raises and never blocks; the caller enforces the in-flight cap.
A transport that sends later than ``submit`` (aiohttp runs a task per request) passes
a fifth argument, the monotonic ns at which the request really started, so ``sent_ns``
stays true under saturation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable

DoneCallback = Callable[..., None]  # (ctx, status, error, bytes_in[, sent_mono_ns])


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


class Transport(ABC):
    """Sends prepared requests; reports each outcome through ``on_done``."""

    def __init__(
        self,
        requests: list[PreparedRequest],
        settings: TransportSettings,
        on_done: DoneCallback,
    ) -> None:
        self.requests = requests
        self.settings = settings
        self.on_done = on_done

    @abstractmethod
    async def open(self, prewarm: int = 0) -> None:
        """Get ready; open up to ``prewarm`` keep-alive connections in advance."""

    @abstractmethod
    def submit(self, index: int, ctx: Any) -> None:
        """Start ``requests[index]``; ``on_done(ctx, ...)`` follows exactly once."""

    @abstractmethod
    async def close(self) -> None:
        """Abort what is in flight (each gets ``on_done(ctx, 0, "cut", 0)``), free sockets."""
