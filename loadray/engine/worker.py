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
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import pyarrow as pa

from loadray.engine.clock import Clock, SystemClock
from loadray.engine.closed_loop import ClosedLoop
from loadray.engine.flow_path import FlowPath, step_names
from loadray.engine.flow_runner import trace_base
from loadray.engine.flow_samples import FlowBuffer
from loadray.engine.open_loop import Counters, OpenLoop
from loadray.engine.samples import SampleBuffer
from loadray.engine.transport import PreparedRequest, Transport, TransportSettings
from loadray.engine.transports import make_transport
from loadray.flow.render import render_step
from loadray.live.heartbeat import worker_second
from loadray.live.status import WorkerSecond
from loadray.plan import Profile, worker_chunks
from loadray.plan.mix import mix_wheel
from loadray.plan.revision import Assignment, plan_phases
from loadray.scenario.model import Scenario

DEFAULT_FLUSH_INTERVAL_S = 1.0
PREWARM_WINDOW_S = 0.05  # pre-open enough connections for 50 ms of the peak rate
DRAIN_MARGIN_S = 1.0

TransportFactory = Callable[..., Transport]
Reporter = Callable[[WorkerSecond], Awaitable[None]]


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
    node: str = ""  # the cluster node id, filled in by the actor shell


@dataclass(frozen=True)
class Drained:
    """Rows flushed since the last drain, and the cumulative counters."""

    index: int
    batches: list[pa.RecordBatch]
    counters: Counters
    finished: bool = False
    rows: int = field(default=0)


def prepared_requests(scenario: Scenario) -> list[PreparedRequest]:
    """The fixed requests of a :attr:`~Scenario.simple` scenario, one per flow."""
    base = scenario.target.url or ""
    rendered = [
        (f.name, render_step(f.steps[0], base, scenario.http.headers, {}, random.Random()))
        for f in scenario.flows
    ]
    return [PreparedRequest(name, r.method, r.url, r.headers, r.body) for name, r in rendered]


def transport_settings(scenario: Scenario, trace_prefix: str = "") -> TransportSettings:
    http = scenario.http
    return TransportSettings(
        connect_timeout_s=http.connect_timeout_s,
        timeout_s=http.timeout_s,
        max_connections=http.max_in_flight,
        keepalive=http.keepalive,
        verify=http.tls.verify,
        ca_file=http.tls.ca_file,
        cert_file=http.tls.cert_file,
        key_file=http.tls.key_file,
        redirects=http.redirects,
        compression=http.compression,
        trace_prefix=trace_prefix,
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
        reporter: Reporter | None = None,
    ) -> None:
        self.spec = spec
        self.reporter = reporter
        self.clock = clock or SystemClock()
        scenario = spec.scenario
        anchor = self.clock.wall_ns() - self.clock.monotonic_ns()
        self.flows: FlowPath | None = None
        self.transport: Transport | None = None
        settings = transport_settings(scenario, secrets.token_hex(8) if scenario.trace else "")
        if scenario.simple:  # the fast path: fixed requests on a Transport
            self.requests = prepared_requests(scenario)
            self.buffer = SampleBuffer(spec.index, [r.name for r in self.requests], anchor, settings.trace_prefix)
        else:  # the flow path: flow instances with variables, cookies, feeders
            names, first = step_names(scenario)
            self.buffer = FlowBuffer(spec.index, names, first, anchor)
            self.flows = FlowPath(
                scenario, spec.index, spec.workers, self.clock, self.buffer, settings, scenario.target.url or ""
            )
            self.flows.on_exhausted = self._exhausted
        self.loop = self._make_loop(settings)
        if self.flows is not None:
            self.flows.on_flow_done = getattr(self.loop, "on_flow_done", None)
        else:
            self.transport = transport_factory(scenario.transport, self.requests, settings, self.loop.on_done)
        self._outbox: list[pa.RecordBatch] = []
        self._finished = False
        self._last_counters = Counters()
        self._last_flush_ns, self._last_cpu_s = time.monotonic_ns(), time.process_time()
        self._sessions: dict[int, tuple[object, dict]] = {}  # closed model: user -> (session, variables)
        self.exhausted: str | None = None  # the stop_run feeder that ran out

    def _make_loop(self, settings: TransportSettings) -> OpenLoop | ClosedLoop:
        scenario, index = self.spec.scenario, self.spec.index
        if scenario.model == "closed":
            return ClosedLoop(self.clock, self._iteration, scenario.think, scenario.seed)
        weights = [f.weight for f in scenario.flows]
        return OpenLoop(
            self.buffer,
            self.clock,
            n_requests=len(weights),
            max_in_flight=scenario.http.max_in_flight,
            drop_when_full=scenario.http.when_full == "drop",
            wheel=mix_wheel(weights, scenario.seed),
            trace_base=trace_base(index) if settings.trace_prefix else 0,
        )

    async def prepare(self) -> WorkerReady:
        count = 0
        if self.transport is not None:
            count = prewarm_count(self.spec.scenario, self.spec.workers)
            await self.transport.open(prewarm=count)
        else:
            await self.flows.open()
        return WorkerReady(self.spec.index, os.getpid(), os.uname().nodename, count)

    def initial_assignment(self) -> Assignment:
        spec = self.spec
        return Assignment(plan_phases(spec.scenario.phases), spec.workers, spec.index)

    async def run(self, start_epoch_ns: int, assignment: Assignment | None = None) -> Counters:
        """Send this worker's share from ``start_epoch_ns`` (wall clock) to the end.

        ``assignment`` (default: the scenario's plan, rank ``index`` of ``workers``)
        says which share; a replacement worker gets one that starts mid-run."""
        clock = self.clock
        self._start_ns = start_ns = start_epoch_ns - (clock.wall_ns() - clock.monotonic_ns())
        end_ns = start_ns + int(self.spec.scenario.duration_s * 1e9)
        flusher = asyncio.ensure_future(self._flush_periodically())
        assignment = assignment or self.initial_assignment()
        try:
            if isinstance(self.loop, ClosedLoop):
                await self.loop.run(assignment, start_ns, end_ns)
            else:
                submit = self.flows.submit if self.flows is not None else self.transport.submit
                await self.loop.run(self._chunks(assignment), start_ns, submit, end_ns)
            deadline = clock.monotonic_ns() + int((self.spec.scenario.http.timeout_s + DRAIN_MARGIN_S) * 1e9)
            await self.loop.drain(deadline)
        finally:
            await self._close()  # whatever is still in flight becomes "cut"
            flusher.cancel()
            await self._report(self._flush())
            self._finished = True
        return self.loop.counters

    async def _close(self) -> None:
        if isinstance(self.loop, ClosedLoop):
            self.loop.cancel()
            await self.loop.drain(self.clock.monotonic_ns() + 1_000_000_000)
        if self.transport is not None:
            await self.transport.close()
        else:
            for session, _ in self._sessions.values():
                await session.close()
            await self.flows.close()

    async def _iteration(self, user: int, intended_ns: int, phase: int) -> bool:
        """One closed-model iteration of ``user`` in its own session and variables."""
        if user not in self._sessions:
            self._sessions[user] = (self.flows.session(), {})
        session, variables = self._sessions[user]
        flows = self.spec.scenario.flows
        flow = 0 if len(flows) == 1 else self.flows.rng.choices(range(len(flows)), [f.weight for f in flows])[0]
        return await self.flows.iteration(session, variables, user, flow, intended_ns, phase)

    def revise(self, assignment: Assignment) -> None:
        """Switch to ``assignment`` at its ``from_s`` (seconds since the common start)."""
        if isinstance(self.loop, ClosedLoop):
            self.loop.assign(assignment)
        else:
            self.loop.replan(self._chunks(assignment), int(assignment.from_s * 1e9))

    @staticmethod
    def _chunks(a: Assignment):
        return worker_chunks(Profile(a.phases), a.rank, a.workers, from_s=a.from_s)

    def stop(self) -> None:
        self.loop.stop()

    def _exhausted(self, feeder: str) -> None:
        """A ``stop_run`` feeder ran out: stop, and say so in the next heartbeat so the
        coordinator stops the whole run."""
        self.exhausted = feeder
        self.stop()

    def drain(self) -> Drained:
        batches, self._outbox = self._outbox, []
        return Drained(
            self.spec.index,
            batches,
            replace(self.loop.counters),
            finished=self._finished,
            rows=sum(b.num_rows for b in batches),
        )

    def _flush(self) -> WorkerSecond:
        """Move what is recorded into the outbox; describe it as one heartbeat."""
        batch = self.buffer.flush()
        if batch is not None:
            self._outbox.append(batch)
        now_ns, cpu_s = time.monotonic_ns(), time.process_time()
        wall_s = max((now_ns - self._last_flush_ns) / 1e9, 1e-9)
        cpu_percent = 100.0 * (cpu_s - self._last_cpu_s) / wall_s
        lag_ms = max(0.0, wall_s - self.spec.flush_interval_s) * 1e3
        second = worker_second(
            self.spec.index, batch, self.loop.counters, self._last_counters,
            self.clock.wall_ns(), lag_ms, cpu_percent,
        )
        self._last_counters = replace(self.loop.counters)
        self._last_flush_ns, self._last_cpu_s = now_ns, cpu_s
        return replace(second, exhausted=self.exhausted) if self.exhausted else second

    async def _report(self, second: WorkerSecond) -> None:
        if self.reporter is None:
            return
        try:
            await self.reporter(second)
        except Exception:  # the coordinator is gone: never run on without it
            self.stop()

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.spec.flush_interval_s)
            await self._report(self._flush())
