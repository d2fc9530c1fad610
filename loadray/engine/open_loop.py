"""The open-model pacing loop of one worker.

Request ``k`` goes out at its absolute intended time (start + offset from the plan),
never after a relative ``sleep(1/rate)``, so delays never accumulate. When the in-flight
cap is reached a due request either waits for a free slot (``queue``: it is sent late
and its latency, counted from the intended time, grows) or is recorded as ``dropped``.
Every intended request ends as exactly one row: when the run stops with requests due and
never sent (the cap held them in ``queue``, or the loop was behind), each becomes a
``dropped`` row too, so the archive holds the whole schedule up to the stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from loadray.counters import Counters
from loadray.engine.clock import Clock
from loadray.engine.lease import NEVER, Lease
from loadray.engine.row_buffer import RowBuffer
from loadray.plan import Chunk

YIELD_EVERY = 64  # sends in a row before letting responses be processed
NO_CUT = 2**62
IDLE_POLL_NS = 100_000_000  # how often a worker with nothing scheduled looks for a revision


class OpenLoop:
    def __init__(
        self,
        buffer: RowBuffer,
        clock: Clock,
        n_requests: int,
        max_in_flight: int,
        drop_when_full: bool = False,
        wheel: tuple[int, ...] | None = None,
        trace_base: int = 0,
        lease: Lease | None = None,
    ) -> None:
        self.buffer = buffer
        self.lease = lease or Lease(NEVER, until_ns=NEVER)  # sends only while it holds
        self.clock = clock
        self.n_requests = n_requests
        self.wheel = wheel or tuple(range(n_requests))  # arrival k sends wheel[k % len]
        self.trace_base = trace_base  # nonzero: request number n carries trace trace_base + n
        self.max_in_flight = max_in_flight
        self.drop_when_full = drop_when_full
        self.counters = Counters()
        self._stopped = False
        self._waiting = False
        self._slot = asyncio.Event()
        self._next: Iterable[Chunk] | None = None
        self._cut_ns = NO_CUT
        self._skip_before_ns = 0  # offsets before this (a late revision's past) are skipped
        self._next_skip_ns = 0
        self._start_ns: int | None = None
        self._stop_ns = 0  # when stop() was called
        self._add = buffer.add  # bound once: on_done is the hot path
        self._now = clock.monotonic_ns

    def stop(self) -> None:
        """Stop sending as soon as possible (what is in flight stays in flight)."""
        if not self._stopped:
            self._stop_ns = self._now()
        self._stopped = True
        self._slot.set()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def on_done(self, ctx: Any, status: int, error: str | None, nbytes: int, sent_ns: int | None = None,
                first: int = 0, chunks: int | None = None) -> None:
        """Transport callback: one request finished (successfully or not); ``sent_ns``
        corrects the send time when the transport started the request later; ``first``
        (the first body byte, monotonic ns; 0: none) and ``chunks`` time the body."""
        intended, sent, step, phase, trace = ctx
        if sent_ns is not None:
            sent = sent_ns
        c = self.counters
        c.done += 1
        if error is not None:
            c.errors += 1
        self._add((intended, sent, self._now(), status, error, step, phase, nbytes, trace,
                   first - sent if first else None, chunks))  # a FAST_ROW
        if self._waiting:
            self._slot.set()

    def on_flow_done(self, ctx: Any, ok: bool) -> None:
        """Flow-path callback: one flow instance ended (it recorded its own rows)."""
        c = self.counters
        c.done += 1
        if not ok:
            c.errors += 1
        if self._waiting:
            self._slot.set()

    def replan(self, chunks: Iterable[Chunk], from_offset_ns: int) -> None:
        """Follow ``chunks`` instead from ``from_offset_ns`` (since the start) on: requests
        of the current schedule intended before it are still sent, none after it."""
        self._next = chunks
        self._cut_ns = from_offset_ns
        now_offset = self._now() - self._start_ns if self._start_ns is not None else 0
        # a revision that arrives after its instant starts where it arrived: the old
        # schedule ran until now, and sending the new one's past at once would be a burst
        self._next_skip_ns = max(from_offset_ns, now_offset)

    async def run(
        self,
        chunks: Iterable[Chunk] | None,
        start_ns: int,
        submit: Callable[[int, Any, int], None],
        end_ns: int | None = None,
    ) -> None:
        """Send the schedule and its revisions until :meth:`stop`, or until it is
        exhausted and ``end_ns`` (the run's planned end) has passed: a paused worker
        stays ready for a revision until then."""
        clock = self.clock
        self._start_ns = start_ns
        while not self._stopped:
            if chunks is not None:
                await self._send(chunks, start_ns, submit)
            chunks, self._next = self._next, None
            self._cut_ns, self._skip_before_ns = NO_CUT, self._next_skip_ns
            if chunks is None:
                now = clock.monotonic_ns()
                if end_ns is None or now >= end_ns:
                    return
                await clock.sleep_until(min(end_ns, now + IDLE_POLL_NS))

    async def _send(self, chunks: Iterable[Chunk], start_ns: int, submit: Callable[[int, Any, int], None]) -> None:
        clock, c, now_ns, lease = self.clock, self.counters, self._now, self.lease
        wheel = self.wheel
        n = len(wheel)
        cap = self.max_in_flight
        tb = self.trace_base
        burst = 0
        for chunk in chunks:
            phase = chunk.phase
            for k, offset in zip(chunk.ks, chunk.offsets_ns):
                if offset >= self._cut_ns:
                    return
                if offset < self._skip_before_ns:
                    c.skipped += 1
                    continue
                due = start_ns + offset
                now = now_ns()
                while now < due and not self._stopped and offset < self._cut_ns:
                    await clock.sleep_until(due)
                    burst = 0
                    now = now_ns()
                if now >= lease.until_ns and not lease.holds(now):
                    self.stop()  # fenced: never sends again
                if offset >= self._cut_ns:
                    return
                if self._stopped:  # the run ended: what was due by then is recorded unsent
                    if not self._unsent(due, wheel[k % n], phase):
                        return
                    continue
                step = wheel[k % n]
                c.intended += 1
                if c.sent - c.done >= cap:
                    if self.drop_when_full:
                        c.dropped += 1
                        self.buffer.record_dropped(due, step, phase)
                        continue
                    await self._wait_for_slot()
                    now = now_ns()
                    if not lease.holds(now):
                        self.stop()
                    if self._stopped:
                        c.intended -= 1
                        if not self._unsent(due, step, phase):
                            return
                        continue
                c.sent += 1
                trace = tb + c.sent if tb else 0
                submit(step, (due, now, step, phase, trace), trace)
                burst += 1
                if burst >= YIELD_EVERY:
                    burst = 0
                    await asyncio.sleep(0)

    def _unsent(self, due: int, step: int, phase: int) -> bool:
        """The run stopped after this request was due, and it was never sent: a ``dropped`` row. False
        (nothing recorded) when it was not due yet, or when the worker fenced itself (what
        a lost worker did not send is the coordinator's ``lost``)."""
        if due >= self._stop_ns or self.lease.lapsed:
            return False
        self.counters.intended += 1
        self.counters.dropped += 1
        self.buffer.record_dropped(due, step, phase)
        return True

    async def _wait_for_slot(self) -> None:
        c = self.counters
        while not self._stopped and c.sent - c.done >= self.max_in_flight:
            self._slot.clear()
            self._waiting = True
            try:
                await self.clock.wait(self._slot)
            finally:
                self._waiting = False

    async def drain(self, deadline_ns: int) -> None:
        """Wait until nothing is in flight or the deadline passes."""
        c = self.counters
        while c.in_flight > 0 and not self._stopped and self.clock.monotonic_ns() < deadline_ns:
            await self.clock.sleep_until(min(deadline_ns, self.clock.monotonic_ns() + 10_000_000))
