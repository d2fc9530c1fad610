"""One load generator: a plain async class, no Ray (``loadray.cluster`` wraps it).

Lifecycle: ``prepare()`` opens (pre-warms) connections and reports ready;
``run(start_epoch_ns)`` waits for the common start instant, sends its share of the
schedule, drains what is in flight and returns; ``drain()`` may be called at any time
(concurrently with ``run``) to take the rows flushed so far and the live counters;
``stop()`` ends the run early (what is still in flight is recorded as ``cut``).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field, replace
from typing import Callable
from urllib.parse import urljoin

import pyarrow as pa

from loadray.engine.clock import Clock, SystemClock
from loadray.engine.open_loop import Counters, OpenLoop
from loadray.engine.samples import SampleBuffer
from loadray.engine.transport import PreparedRequest, Transport, TransportSettings
from loadray.engine.transports import make_transport
from loadray.plan import Profile, worker_chunks
from loadray.scenario.model import Scenario

DEFAULT_FLUSH_INTERVAL_S = 1.0
PREWARM_WINDOW_S = 0.05  # pre-open enough connections for 50 ms of the peak rate
DRAIN_MARGIN_S = 1.0

TransportFactory = Callable[..., Transport]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything one worker needs; ``scenario.target.url`` is already resolved."""

    index: int
    workers: int
    scenario: Scenario
    flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S


@dataclass(frozen=True)
class WorkerReady:
    index: int
    pid: int
    host: str
    connections: int


@dataclass(frozen=True)
class Drained:
    """Rows flushed since the last drain, and the cumulative counters."""

    index: int
    batches: list[pa.RecordBatch]
    counters: Counters
    finished: bool = False
    rows: int = field(default=0)


def prepared_requests(scenario: Scenario) -> list[PreparedRequest]:
    base = scenario.target.url or ""
    return [
        PreparedRequest(
            name=r.name,
            method=r.method,
            url=urljoin(base.rstrip("/") + "/", r.path.lstrip("/")),
            headers=scenario.http.headers + r.headers,
            body=r.body,
        )
        for r in scenario.requests
    ]


def transport_settings(scenario: Scenario) -> TransportSettings:
    http = scenario.http
    return TransportSettings(
        connect_timeout_s=http.connect_timeout_s,
        timeout_s=http.timeout_s,
        max_connections=http.max_in_flight,
        keepalive=http.keepalive,
    )


def prewarm_count(scenario: Scenario, workers: int) -> int:
    if not scenario.http.keepalive:
        return 0
    peak = max(max(p.rate, p.end_rate) for p in scenario.phases) / workers
    return min(scenario.http.max_in_flight, int(peak * PREWARM_WINDOW_S) + 2)


class LoadWorker:
    def __init__(
        self,
        spec: WorkerSpec,
        clock: Clock | None = None,
        transport_factory: TransportFactory = make_transport,
    ) -> None:
        self.spec = spec
        self.clock = clock or SystemClock()
        scenario = spec.scenario
        self.requests = prepared_requests(scenario)
        anchor = self.clock.wall_ns() - self.clock.monotonic_ns()
        self.buffer = SampleBuffer(spec.index, [r.name for r in self.requests], anchor)
        self.loop = OpenLoop(
            self.buffer,
            self.clock,
            n_requests=len(self.requests),
            max_in_flight=scenario.http.max_in_flight,
            drop_when_full=scenario.http.when_full == "drop",
        )
        self.transport = transport_factory(
            scenario.transport, self.requests, transport_settings(scenario), self.loop.on_done
        )
        self._outbox: list[pa.RecordBatch] = []
        self._finished = False

    async def prepare(self) -> WorkerReady:
        count = prewarm_count(self.spec.scenario, self.spec.workers)
        await self.transport.open(prewarm=count)
        return WorkerReady(self.spec.index, os.getpid(), os.uname().nodename, count)

    async def run(self, start_epoch_ns: int) -> Counters:
        """Send this worker's share from ``start_epoch_ns`` (wall clock) to the end."""
        clock = self.clock
        start_ns = start_epoch_ns - (clock.wall_ns() - clock.monotonic_ns())
        spec = self.spec
        chunks = worker_chunks(Profile(spec.scenario.phases), spec.index, spec.workers)
        flusher = asyncio.ensure_future(self._flush_periodically())
        try:
            await self.loop.run(chunks, start_ns, self.transport.submit)
            deadline = clock.monotonic_ns() + int((spec.scenario.http.timeout_s + DRAIN_MARGIN_S) * 1e9)
            await self.loop.drain(deadline)
        finally:
            await self.transport.close()  # whatever is still in flight becomes "cut"
            flusher.cancel()
            self._flush()
            self._finished = True
        return self.loop.counters

    def stop(self) -> None:
        self.loop.stop()

    def drain(self) -> Drained:
        batches, self._outbox = self._outbox, []
        return Drained(
            self.spec.index,
            batches,
            replace(self.loop.counters),
            finished=self._finished,
            rows=sum(b.num_rows for b in batches),
        )

    def _flush(self) -> None:
        batch = self.buffer.flush()
        if batch is not None:
            self._outbox.append(batch)

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.spec.flush_interval_s)
            self._flush()
