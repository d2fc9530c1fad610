"""One load generator: a plain async class, no Ray (``loadray.cluster`` wraps it).

Lifecycle: ``prepare()`` opens (pre-warms) connections and reports ready;
``run(start_epoch_ns)`` waits for the common start instant, sends its share of the
schedule, drains what is in flight and returns; ``drain(acked)`` may be called at any
time (concurrently with ``run``) to take the rows not yet acknowledged and the live
counters; ``stop()`` ends the run early (what is still in flight is recorded as ``cut``).

With a ``renewer`` (the coordinator's side) the worker sends only while its
:class:`~loadray.engine.lease.Lease` holds: a renewal goes out every
``renew_interval``, and once none has been acknowledged for the lease's length the
worker fences itself and never sends again. Rows stay in the :class:`Outbox` until
the driver acknowledges them.
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

from loadray.engine.clock import Clock, SystemClock, sleep_through
from loadray.engine.closed_loop import ClosedLoop
from loadray.engine.flow_path import FlowPath, step_names
from loadray.engine.flow_runner import trace_base
from loadray.engine.lease import DECLARED_LOST, FINISHED, NEVER, STOPPED, Lease
from loadray.counters import Counters
from loadray.engine.open_loop import OpenLoop
from loadray.engine.outbox import Outbox, Parcel
from loadray.engine.row_buffer import FAST_ROW, FLOW_ROW, RowBuffer
from loadray.engine.transport import PreparedRequest, Transport, TransportSettings
from loadray.engine.transport_choice import make_transport
from loadray.flow.render import render_step
from loadray.live.flow_outcomes import FlowOutcomes
from loadray.live.heartbeat import worker_second
from loadray.live.status import WorkerSecond
from loadray.plan import Profile, worker_chunks
from loadray.plan.mix import mix_wheel
from loadray.plan.revision import Assignment, plan_phases
from loadray.scenario.model import Scenario

DEFAULT_FLUSH_INTERVAL_S = 1.0
PREWARM_WINDOW_S = 0.05  # pre-open enough connections for 50 ms of the peak rate
DRAIN_MARGIN_S = 1.0
HARD_END_GRACE_S = 0.9  # nothing is sent later than this after the planned end

TransportFactory = Callable[..., Transport]
Reporter = Callable[[WorkerSecond], Awaitable[None]]
#: Asks the coordinator to renew the lease (saying whether the lease lapsed already);
#: answers RENEWED, LOST (declared lost: fence for good) or None (no answer in time).
Renewer = Callable[[bool], Awaitable["str | None"]]
RENEWED, LOST = "renewed", "lost"


@dataclass(frozen=True)
class WorkerSpec:
    """Everything one worker needs; ``scenario.target.url`` is already resolved."""

    index: int
    workers: int
    scenario: Scenario
    flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S
    incarnation: int = 0  # which actor of this index (a restart makes a new one)


@dataclass(frozen=True)
class WorkerReady:
    index: int
    pid: int
    host: str
    connections: int
    node: str = ""  # the cluster node id, filled in by the actor shell
    address: str = ""  # the node's IP address, filled in by the actor shell
    incarnation: int = 0


@dataclass(frozen=True)
class Drained:
    """The rows not yet acknowledged (oldest first), and the cumulative counters.

    ``finished``: the run returned, nothing more will be recorded; with ``parcels``
    all acknowledged the worker has delivered everything."""

    index: int
    parcels: list[Parcel]
    counters: Counters
    finished: bool = False
    incarnation: int = 0
    fenced: str | None = None  # why the worker fenced itself, if it did
    last_seq: int = 0  # the newest sequence number recorded so far

    @property
    def batches(self) -> list[pa.RecordBatch]:
        return [p.batch for p in self.parcels]

    @property
    def rows(self) -> int:
        return sum(p.batch.num_rows for p in self.parcels)


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
        renewer: Renewer | None = None,
    ) -> None:
        self.spec = spec
        self.reporter = reporter
        self.renewer = renewer
        self.clock = clock or SystemClock()
        scenario = spec.scenario
        anchor = self.clock.wall_ns() - self.clock.monotonic_ns()
        cluster = scenario.cluster
        self.lease = Lease(int(cluster.lease_s * 1e9) if renewer is not None else NEVER)
        self.renew_interval_ns = int(cluster.renew_interval_s * 1e9)
        self.flows: FlowPath | None = None
        self.transport: Transport | None = None
        settings = transport_settings(scenario, secrets.token_hex(8) if scenario.trace else "")
        if scenario.simple:  # the fast path: fixed requests on a Transport
            self.requests = prepared_requests(scenario)
            self.buffer = RowBuffer(spec.index, [r.name for r in self.requests], anchor, FAST_ROW,
                                    trace_prefix=settings.trace_prefix)
        else:  # the flow path: flow instances with variables, cookies, feeders
            names, first = step_names(scenario)
            self.buffer = RowBuffer(spec.index, names, anchor, FLOW_ROW, first, settings.trace_prefix)
            self.flows = FlowPath(
                scenario, spec.index, spec.workers, self.clock, self.buffer, settings, scenario.target.url or "",
                self.lease,
            )
            self.flows.on_exhausted = self._exhausted
        self.loop = self._make_loop(settings)
        if self.flows is not None:
            self.flows.on_flow_done = getattr(self.loop, "on_flow_done", None)
        else:
            self.transport = transport_factory(scenario.transport, self.requests, settings, self.loop.on_done)
        self.outbox = Outbox()
        self._finished = False
        self._news = asyncio.Event()  # set when rows arrive in the outbox or the run ends
        self._last_counters = Counters()
        self._flows = FlowOutcomes()  # flow instances still running, across heartbeats
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
            lease=self.lease,
        )

    async def prepare(self) -> WorkerReady:
        count = 0
        if self.transport is not None:
            count = prewarm_count(self.spec.scenario, self.spec.workers)
            await self.transport.open(prewarm=count)
        else:
            await self.flows.open()
        return WorkerReady(
            self.spec.index, os.getpid(), os.uname().nodename, count, incarnation=self.spec.incarnation
        )

    def initial_assignment(self) -> Assignment:
        spec = self.spec
        return Assignment(plan_phases(spec.scenario.phases), spec.workers, spec.index)

    async def run(
        self, start_epoch_ns: int, assignment: Assignment | None = None, granted_epoch_ns: int | None = None
    ) -> Counters:
        """Send this worker's share from ``start_epoch_ns`` (wall clock) to the end.

        ``assignment`` (default: the scenario's plan, rank ``index`` of ``workers``)
        says which share; a replacement worker gets one that starts mid-run. The first
        lease runs from ``granted_epoch_ns``, when the coordinator issued this call
        (default: now), so a call that arrives late starts with less of it."""
        clock = self.clock
        anchor = clock.wall_ns() - clock.monotonic_ns()
        self._start_ns = start_ns = start_epoch_ns - anchor
        end_ns = start_ns + int(self.spec.scenario.duration_s * 1e9)
        granted = clock.monotonic_ns() if granted_epoch_ns is None else granted_epoch_ns - anchor
        self.lease.grant(granted, end_ns + int(HARD_END_GRACE_S * 1e9))
        flusher = asyncio.ensure_future(self._flush_periodically())
        keeper = asyncio.ensure_future(self._keep_lease()) if self.renewer is not None else None
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
            self.lease.fence(clock.monotonic_ns(), FINISHED)
            await self._report(self._flush())
            self._finished = True
            self._news.set()
            if keeper is not None:
                keeper.cancel()
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
        self.fence(STOPPED)

    def fence(self, reason: str) -> None:
        """Never send again (``reason``: one of :mod:`loadray.engine.lease`'s)."""
        self.lease.fence(self.clock.monotonic_ns(), reason)
        self.loop.stop()

    def _exhausted(self, feeder: str) -> None:
        """A ``stop_run`` feeder ran out: stop, and say so in the next heartbeat so the
        coordinator stops the whole run."""
        self.exhausted = feeder
        self.stop()

    async def wait_and_drain(self, acked: int, wait_s: float) -> Drained:
        """:meth:`drain`, but with nothing new to hand out wait up to ``wait_s`` for the
        next flush: a caller that keeps one such call outstanding gets every batch as
        soon as it is flushed (what a host loses with its link is then one flush)."""
        self.outbox.take(acked)
        if not len(self.outbox) and not self._finished:
            self._news.clear()
            try:
                await asyncio.wait_for(self._news.wait(), wait_s)
            except asyncio.TimeoutError:
                pass
        return self.drain(acked)

    def drain(self, acked: int | None = None) -> Drained:
        """Rows up to sequence ``acked`` reached the archive; hand out the rest.
        ``acked`` None: an in-process caller takes (and acknowledges) everything."""
        parcels = self.outbox.take_all() if acked is None else self.outbox.take(acked)
        lease = self.lease
        return Drained(
            self.spec.index,
            parcels,
            replace(self.loop.counters),
            finished=self._finished,
            incarnation=self.spec.incarnation,
            fenced=lease.reason if lease.lapsed else None,
            last_seq=self.outbox.last_seq,
        )

    def _flush(self) -> WorkerSecond:
        """Move what is recorded into the outbox; describe it as one heartbeat."""
        batch = self.buffer.flush()
        if batch is not None:
            self.outbox.put(batch, self.buffer.arrivals(batch))
            self._news.set()
        now_ns, cpu_s = time.monotonic_ns(), time.process_time()
        wall_s = max((now_ns - self._last_flush_ns) / 1e9, 1e-9)
        cpu_percent = 100.0 * (cpu_s - self._last_cpu_s) / wall_s
        lag_ms = max(0.0, wall_s - self.spec.flush_interval_s) * 1e3
        second = worker_second(
            self.spec.index, batch, self.loop.counters, self._last_counters,
            self.clock.wall_ns(), lag_ms, cpu_percent, self.spec.incarnation, self._flows,
        )
        self._last_counters = replace(self.loop.counters)
        self._last_flush_ns, self._last_cpu_s = now_ns, cpu_s
        return replace(second, exhausted=self.exhausted) if self.exhausted else second

    async def _report(self, second: WorkerSecond) -> None:
        """Live statistics only: a report that does not arrive costs the live view a
        second, never a row (rows wait in the outbox; the lease decides on sending)."""
        if self.reporter is None:
            return
        try:
            await self.reporter(second)
        except Exception:
            pass

    async def _keep_lease(self) -> None:
        """A renewal every ``renew_interval`` (each on its own: one that hangs in a
        partition does not hold up the next); fence once the lease lapsed."""
        clock, pending = self.clock, set()
        try:
            while True:
                now = clock.monotonic_ns()
                if not self.lease.holds(now) and not self.loop.stopped:
                    self.loop.stop()
                task = asyncio.ensure_future(self._renew(now))
                pending.add(task)
                task.add_done_callback(pending.discard)
                await sleep_through(clock, now + self.renew_interval_ns)
        finally:
            for task in pending:
                task.cancel()

    async def _renew(self, sent_ns: int) -> None:
        answer = await self.renewer(self.lease.lapsed)
        if answer == RENEWED:
            self.lease.renew(sent_ns)
        elif answer == LOST:
            self.fence(DECLARED_LOST)

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.spec.flush_interval_s)
            await self._report(self._flush())
