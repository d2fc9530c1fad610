"""Fault injection of the built-in target, as pure math.

Nothing here sleeps, reads a clock or opens a socket: the clock and the random source
are injected, so tests drive it with a fake clock and run instantly. The server asks
:meth:`FaultModel.decide` once per request at arrival and sleeps until the returned
ready time.

Semantics (times in seconds since the server started):

- every response waits ``latency_s + uniform(0, jitter_s)`` after its arrival;
- a fraction ``error_rate`` of responses is answered 500 (drawn from the seeded random);
- stall windows are ``[k*every, k*every + for)`` for ``k = 1, 2, ...``; a response whose
  ready time falls in a window waits until that window ends. A stall is disabled when
  ``stall_every_s`` or ``stall_for_s`` is 0.
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from loadray.target.options import TargetOptions

__all__ = ["Decision", "FaultModel", "stall_release", "validate_options"]

STATUS_OK = 200
STATUS_ERROR = 500


def validate_options(options: TargetOptions) -> None:
    """Raise ``ValueError`` naming the option when ``options`` cannot be served."""
    if not 0 <= options.port <= 65535:
        raise ValueError(f"port: must be 0..65535, got {options.port}")
    if options.grpc_port is not None and not 0 <= options.grpc_port <= 65535:
        raise ValueError(f"grpc_port: must be 0..65535, got {options.grpc_port}")
    try:
        ipaddress.ip_address(options.host)
    except ValueError:
        raise ValueError(f"host: must be an IP address, got {options.host!r}") from None
    for name in ("latency_s", "jitter_s", "stall_every_s", "stall_for_s"):
        value = getattr(options, name)
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"{name}: must be a finite duration >= 0, got {value!r}")
    if not 0.0 <= options.error_rate <= 1.0:
        raise ValueError(f"error_rate: must be between 0% and 100%, got {options.error_rate!r}")
    if options.stall_every_s > 0 and options.stall_for_s >= options.stall_every_s:
        # Windows would touch or overlap: every response after the first would stall forever.
        raise ValueError(
            f"stall_for_s: must be shorter than stall_every_s ({options.stall_for_s:g}s >= "
            f"{options.stall_every_s:g}s)"
        )


def stall_release(t: float, every: float, length: float) -> float:
    """The time a response ready at ``t`` (seconds since start) is actually sent.

    ``t`` itself when it is outside every stall window, else the end of its window.
    Windows are ``[k*every, k*every + length)`` for ``k >= 1``; disabled when ``every`` or
    ``length`` is 0. Assumes ``length < every`` (see :func:`validate_options`).
    """
    if every <= 0 or length <= 0 or t < every:
        return t
    k = math.floor(t / every)
    start = k * every
    if t < start + length:
        return start + length
    return t


@dataclass(frozen=True)
class Decision:
    """What to answer one request: ``status`` once ``ready_at`` (clock units) is reached."""

    status: int
    ready_at: float


class FaultModel:
    """Per-server fault state: the start instant, the clock and one seeded random.

    ``clock`` is a monotonic clock in seconds (``time.monotonic`` in the server, a fake in
    tests); the stall windows are measured from ``start`` (default: ``clock()`` at
    construction). ``rng`` defaults to ``random.Random(options.seed)``. A draw is taken
    for jitter only when ``jitter_s > 0`` and for the error only when ``0 < error_rate <
    1``, so each fault's sequence is reproducible from the seed.
    """

    __slots__ = ("options", "clock", "start", "_rng", "_latency", "_jitter", "_error_rate",
                 "_every", "_for", "active")

    def __init__(
        self,
        options: TargetOptions,
        *,
        clock: Callable[[], float],
        rng: random.Random | None = None,
        start: float | None = None,
    ) -> None:
        validate_options(options)
        self.options = options
        self.clock = clock
        self.start = clock() if start is None else start
        self._rng = rng if rng is not None else random.Random(options.seed)
        self._latency = options.latency_s
        self._jitter = options.jitter_s
        self._error_rate = options.error_rate
        stalls = options.stall_every_s > 0 and options.stall_for_s > 0
        self._every = options.stall_every_s if stalls else 0.0
        self._for = options.stall_for_s if stalls else 0.0
        # False: every response is an immediate 200, the server may skip decide() entirely.
        self.active = bool(self._latency or self._jitter or self._error_rate or stalls)

    def status(self) -> int:
        """Draw the status of one response (500 with probability ``error_rate``)."""
        rate = self._error_rate
        if rate <= 0.0:
            return STATUS_OK
        if rate >= 1.0:
            return STATUS_ERROR
        return STATUS_ERROR if self._rng.random() < rate else STATUS_OK

    def delay(self) -> float:
        """Draw the service delay of one response: ``latency + uniform(0, jitter)``."""
        if self._jitter > 0.0:
            return self._latency + self._rng.uniform(0.0, self._jitter)
        return self._latency

    def ready_at(self, arrival: float, delay: float) -> float:
        """Clock time at which a response that arrived at ``arrival`` is sent."""
        ready = arrival + delay
        if self._every:
            return self.start + stall_release(ready - self.start, self._every, self._for)
        return ready

    def decide(self, arrival: float | None = None) -> Decision:
        """Status and ready time of one request arriving at ``arrival`` (default: now)."""
        if arrival is None:
            arrival = self.clock()
        delay = self.delay()
        status = self.status()
        return Decision(status, self.ready_at(arrival, delay))
