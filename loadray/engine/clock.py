"""Injected clocks. The engine never calls ``time`` or ``asyncio.sleep`` directly: this
module is the one place that reads the system's clocks (monotonic, wall, and the
process's CPU time).

:class:`SystemClock` is the real one. :class:`FakeClock` is a tiny discrete-event clock
for tests: sleeping jumps time forward, running the timers due on the way, so pacing
tests over minutes of load run instantly and deterministically.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Protocol

MAX_SLEEP_SLICE_NS = 100_000_000  # sleeps are sliced so a stop is seen within 100 ms


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...

    def wall_ns(self) -> int: ...

    def cpu_ns(self) -> int:
        """CPU time this process has used (user + system), in ns."""

    async def sleep_until(self, mono_ns: int) -> None: ...

    async def wait(self, event: asyncio.Event) -> None: ...


class SystemClock:
    monotonic_ns = staticmethod(time.monotonic_ns)
    wall_ns = staticmethod(time.time_ns)
    cpu_ns = staticmethod(time.process_time_ns)

    async def sleep_until(self, mono_ns: int) -> None:
        """Sleep until ``mono_ns`` or up to 100 ms, whichever is first; never wake early
        by a whole millisecond (uvloop timers have 1 ms resolution and round to it,
        so a short sleep is rounded up rather than spun on)."""
        delay_ns = min(mono_ns - time.monotonic_ns(), MAX_SLEEP_SLICE_NS)
        if delay_ns > 0:
            await asyncio.sleep(math.ceil(delay_ns / 1e6) / 1e3)

    async def wait(self, event: asyncio.Event) -> None:
        await event.wait()


class ShiftedClock(SystemClock):
    """The system's clocks, the wall clock moved back by ``offset_ns``: a worker host's
    wall time read as the driver's (see :mod:`loadray.fleet.clock_offset`). Monotonic
    and CPU time are the system's own: no cost on the hot path."""

    def __init__(self, offset_ns: int) -> None:
        self.offset_ns = offset_ns

    def wall_ns(self) -> int:
        return time.time_ns() - self.offset_ns


class FakeClock:
    """Time moves only when the code under test sleeps or waits."""

    def __init__(self, start_ns: int = 1_000_000_000, wall_offset_ns: int = 1_700_000_000 * 10**9):
        self.now_ns = start_ns
        self.wall_offset_ns = wall_offset_ns
        self.cpu_used_ns = 0  # what cpu_ns() says: a test sets it
        self._timers: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def monotonic_ns(self) -> int:
        return self.now_ns

    def wall_ns(self) -> int:
        return self.now_ns + self.wall_offset_ns

    def cpu_ns(self) -> int:
        return self.cpu_used_ns

    def call_at(self, mono_ns: int, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (mono_ns, next(self._seq), fn))

    def _run_next(self) -> None:
        when, _, fn = heapq.heappop(self._timers)
        self.now_ns = max(self.now_ns, when)
        fn()

    async def sleep_until(self, mono_ns: int) -> None:
        while self._timers and self._timers[0][0] <= mono_ns:
            self._run_next()
        self.now_ns = max(self.now_ns, mono_ns)
        await asyncio.sleep(0)

    async def wait(self, event: asyncio.Event) -> None:
        while not event.is_set():
            if not self._timers:
                raise RuntimeError("FakeClock.wait: nothing left that could set the event")
            self._run_next()
        await asyncio.sleep(0)

    async def run_all(self) -> None:
        """Run every pending timer (e.g. outstanding responses) in time order."""
        while self._timers:
            self._run_next()
        await asyncio.sleep(0)


async def sleep_through(clock: Clock, mono_ns: int) -> None:
    """Sleep until ``mono_ns`` however far away (``sleep_until`` sleeps 100 ms at most)."""
    while clock.monotonic_ns() < mono_ns:
        await clock.sleep_until(mono_ns)


def epoch_anchor_ns(clock: Clock, tries: int = 5) -> int:
    """``wall - monotonic`` (epoch ns = monotonic ns + this) from the tightest of a few
    monotonic/wall/monotonic reads: a process descheduled between two plain reads would
    shift every time it converts by the gap."""
    best: tuple[int, int] | None = None
    for _ in range(tries):
        before, wall, after = clock.monotonic_ns(), clock.wall_ns(), clock.monotonic_ns()
        if best is None or after - before < best[0]:
            best = (after - before, wall - (before + after) // 2)
    assert best is not None
    return best[1]
