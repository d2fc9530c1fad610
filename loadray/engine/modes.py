"""How a worker sends: one small strategy per mode, all with the :class:`Mode` interface.

- :class:`FastOpen`: the open model on fixed requests: an :class:`OpenLoop` submitting
  straight to a :class:`~loadray.engine.transport.Transport` (the hot path);
- :class:`FlowOpen`: the open model on flows: the same loop submitting arrivals to a
  :class:`~loadray.engine.flow_path.FlowPath`, which tells the loop when each flow ends;
- :class:`Closed`: the closed model: a :class:`ClosedLoop` of users, each iteration one
  flow on the flow path in that user's session and variables.

:func:`make_mode` picks one from the scenario; :class:`~loadray.engine.worker.LoadWorker`
only ever talks to the :class:`Mode` it got.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from loadray.counters import Counters
from loadray.engine.clock import Clock, epoch_anchor_ns
from loadray.engine.closed_loop import ClosedLoop
from loadray.engine.flow_client import FlowClientFactory
from loadray.engine.flow_path import FlowPath, step_names
from loadray.engine.flow_runner import trace_base
from loadray.engine.lease import Lease
from loadray.engine.open_loop import OpenLoop
from loadray.engine.row_buffer import FAST_ROW, FLOW_ROW, RowBuffer
from loadray.engine.transport import DoneCallback, PreparedRequest, Transport, TransportSettings
from loadray.flow.render import render_step
from loadray.plan import Chunk, Profile, worker_chunks
from loadray.plan.mix import mix_wheel
from loadray.plan.revision import Assignment
from loadray.scenario.model import Scenario
from loadray.stream.table import ChunkBuffer

__all__ = ["Closed", "FastOpen", "FlowOpen", "Mode", "make_mode", "prepared_requests", "prewarm_count"]

PREWARM_WINDOW_S = 0.05  # pre-open enough connections for 50 ms of the peak rate
CLOSE_GRACE_NS = 1_000_000_000  # closed model: iterations under way may finish this long

TransportFactory = Callable[..., Transport]  # (kind, requests, settings, on_done, clock) -> Transport


class Mode(Protocol):
    """What a worker does with its share, whatever the model and the requests."""

    buffer: RowBuffer
    chunks: ChunkBuffer | None  # the chunks/ side table, when a step streams

    @property
    def counters(self) -> Counters: ...

    @property
    def stopped(self) -> bool: ...

    async def open(self) -> int:
        """Get ready to send; the number of connections opened in advance."""

    async def run(self, assignment: Assignment, start_ns: int, end_ns: int) -> None:
        """Send ``assignment`` from ``start_ns`` until ``end_ns`` or :meth:`stop`."""

    def revise(self, assignment: Assignment) -> None:
        """Switch to ``assignment`` at its ``from_s``."""

    def stop(self) -> None:
        """Send nothing more (what is in flight stays in flight)."""

    async def drain(self, deadline_ns: int) -> None:
        """Wait for what is in flight, until ``deadline_ns`` at the latest."""

    async def close(self) -> None:
        """Cut what is still in flight (recorded as ``cut``) and free the sockets."""


def prepared_requests(scenario: Scenario) -> list[PreparedRequest]:
    """The fixed requests of a :attr:`~Scenario.simple` scenario, one per flow."""
    base = scenario.target.url or ""
    rendered = [
        (f.name, render_step(f.steps[0], base, scenario.http.headers, {}, random.Random()))
        for f in scenario.flows
    ]
    return [PreparedRequest(name, r.method, r.url, r.headers, r.body) for name, r in rendered]


def prewarm_count(scenario: Scenario, workers: int) -> int:
    if not scenario.http.keepalive:
        return 0
    peak = max(max(p.rate, p.end_rate) for p in scenario.phases) / workers
    return min(scenario.http.max_in_flight, int(peak * PREWARM_WINDOW_S) + 2)


def _chunks(a: Assignment) -> Iterable[Chunk]:
    return worker_chunks(Profile(a.phases), a.rank, a.workers, from_s=a.from_s)


def _open_loop(scenario: Scenario, index: int, buffer: RowBuffer, clock: Clock, lease: Lease) -> OpenLoop:
    weights = [f.weight for f in scenario.flows]
    return OpenLoop(
        buffer,
        clock,
        n_requests=len(weights),
        max_in_flight=scenario.http.max_in_flight,
        drop_when_full=scenario.http.when_full == "drop",
        wheel=mix_wheel(weights, scenario.seed),
        trace_base=trace_base(index) if buffer.trace_prefix else 0,
        lease=lease,
    )


class _Paced:
    """What every mode reads off its pacing loop."""

    buffer: RowBuffer
    chunks: ChunkBuffer | None = None
    loop: OpenLoop | ClosedLoop
    counters = property(lambda self: self.loop.counters, doc="The pacing loop's cumulative counters.")
    stopped = property(lambda self: self.loop.stopped, doc="Whether the pacing loop stopped sending.")

    def stop(self) -> None:
        self.loop.stop()

    async def drain(self, deadline_ns: int) -> None:
        await self.loop.drain(deadline_ns)


class _OpenModel(_Paced):
    """The open model's pacing (shared by both open modes): ``submit`` is where an
    arrival goes."""

    loop: OpenLoop
    submit: Callable[..., None]

    async def run(self, assignment: Assignment, start_ns: int, end_ns: int) -> None:
        await self.loop.run(_chunks(assignment), start_ns, self.submit, end_ns)

    def revise(self, assignment: Assignment) -> None:
        self.loop.replan(_chunks(assignment), int(assignment.from_s * 1e9))


class FastOpen(_OpenModel):
    """Fixed requests at the open model's rate on a transport."""

    def __init__(self, scenario: Scenario, index: int, workers: int, clock: Clock, lease: Lease,
                 settings: TransportSettings, transport_factory: TransportFactory) -> None:
        self.scenario, self.workers = scenario, workers
        self.requests = prepared_requests(scenario)
        anchor = epoch_anchor_ns(clock)
        self.buffer = RowBuffer(index, [r.name for r in self.requests], anchor, FAST_ROW,
                                trace_prefix=settings.trace_prefix)
        self.loop = _open_loop(scenario, index, self.buffer, clock, lease)
        on_done: DoneCallback = self.loop.on_done
        self.transport = transport_factory(scenario.transport, self.requests, settings, on_done, clock)
        self.submit = self.transport.submit

    async def open(self) -> int:
        count = prewarm_count(self.scenario, self.workers)
        await self.transport.open(prewarm=count)
        return count

    async def close(self) -> None:
        await self.transport.close()


class FlowOpen(_OpenModel):
    """Flow instances at the open model's rate: an arrival starts one."""

    def __init__(self, flows: FlowPath, scenario: Scenario, index: int, clock: Clock, lease: Lease,
                 workers: int = 1) -> None:
        self.flows = flows
        self.prewarm = prewarm_count(scenario, workers)
        self.buffer, self.chunks = flows.runner.buffer, flows.runner.chunks
        self.loop = _open_loop(scenario, index, self.buffer, clock, lease)
        flows.on_flow_done = self.loop.on_flow_done
        self.submit = flows.submit

    async def open(self) -> int:
        return await self.flows.open(self.prewarm)

    async def close(self) -> None:
        await self.flows.close()


class Closed(_Paced):
    """Virtual users, each looping one flow iteration after another in its own session
    (cookies) and variables."""

    loop: ClosedLoop

    def __init__(self, flows: FlowPath, scenario: Scenario, clock: Clock) -> None:
        self.flows, self.clock = flows, clock
        self.buffer, self.chunks = flows.runner.buffer, flows.runner.chunks
        self.loop = ClosedLoop(clock, self._iteration, scenario.think, scenario.seed)
        self._weights = [f.weight for f in scenario.flows]
        self._sessions: dict[int, tuple[Any, dict]] = {}  # user -> (session, variables)

    async def open(self) -> int:
        await self.flows.open()
        return 0

    async def run(self, assignment: Assignment, start_ns: int, end_ns: int) -> None:
        await self.loop.run(assignment, start_ns, end_ns)

    def revise(self, assignment: Assignment) -> None:
        self.loop.assign(assignment)

    async def close(self) -> None:
        self.loop.cancel()
        await self.loop.drain(self.clock.monotonic_ns() + CLOSE_GRACE_NS)
        for session, _ in self._sessions.values():
            await session.close()
        await self.flows.close()

    async def _iteration(self, user: int, intended_ns: int, phase: int) -> bool:
        """One iteration of ``user`` in its own session and variables."""
        if user not in self._sessions:
            self._sessions[user] = (self.flows.session(), {})
        session, variables = self._sessions[user]
        weights = self._weights
        flow = 0 if len(weights) == 1 else self.flows.rng.choices(range(len(weights)), weights)[0]
        return await self.flows.iteration(session, variables, user, flow, intended_ns, phase)


def make_mode(
    scenario: Scenario, index: int, workers: int, clock: Clock, lease: Lease, settings: TransportSettings,
    transport_factory: TransportFactory, on_exhausted: Callable[[str], None],
    client_factory: FlowClientFactory | None = None,
) -> FastOpen | FlowOpen | Closed:
    """The mode of this scenario: fixed requests (:attr:`~Scenario.simple`) in the open
    model, flows in the open model, or the closed model."""
    if scenario.simple:
        return FastOpen(scenario, index, workers, clock, lease, settings, transport_factory)
    names, first = step_names(scenario)
    anchor = epoch_anchor_ns(clock)
    buffer = RowBuffer(index, names, anchor, FLOW_ROW, first, settings.trace_prefix)
    flows = FlowPath(scenario, index, workers, clock, buffer, settings, scenario.target.url or "", lease,
                     client_factory)
    flows.on_exhausted = on_exhausted
    if scenario.model == "closed":
        return Closed(flows, scenario, clock)
    return FlowOpen(flows, scenario, index, clock, lease, workers)
