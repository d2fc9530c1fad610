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
the driver acknowledges them — or, for a worker that writes its own parts
(``archive``, see :mod:`loadray.engine.archiver`), until the part holding them is
complete; the driver then gets receipts of parts instead of rows.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import pyarrow as pa

from loadray.archive.fs import locate
from loadray.archive.part_series import PartSeries
from loadray.counters import Counters
from loadray.engine.archiver import Archiver, ArchiveSpec, Receipt
from loadray.engine.clock import Clock, SystemClock, epoch_anchor_ns, sleep_through
from loadray.engine.flow_client import FlowClientFactory
from loadray.engine.lease import DECLARED_LOST, FINISHED, NEVER, STOPPED, FenceReason, Lease
from loadray.engine.modes import Mode, TransportFactory, make_mode
from loadray.engine.outbox import Outbox, Parcel
from loadray.engine.transport import TransportSettings
from loadray.engine.transport_choice import make_transport
from loadray.live.flow_outcomes import FlowOutcomes
from loadray.live.heartbeat import worker_second
from loadray.live.rules import live_steps
from loadray.live.status import WorkerSecond
from loadray.plan.revision import Assignment, plan_phases
from loadray.scenario.model import Scenario

DEFAULT_FLUSH_INTERVAL_S = 1.0
DRAIN_MARGIN_S = 1.0
DIRECT_LONG_POLL_S = 5.0  # writing its own parts: a drain call waits this long for news
HARD_END_GRACE_S = 0.9  # nothing is sent later than this after the planned end

Reporter = Callable[[WorkerSecond], Awaitable[None]]
#: The coordinator's answer to a renewal: renewed, or declared lost (fence for good).
Renewal = Literal["renewed", "lost"]
RENEWED: Renewal = "renewed"
LOST: Renewal = "lost"
#: Asks the coordinator to renew the lease (saying whether the lease lapsed already);
#: answers a :data:`Renewal`, or None (no answer in time).
Renewer = Callable[[bool], Awaitable["Renewal | None"]]


@dataclass(frozen=True)
class WorkerSpec:
    """Everything one worker needs; ``scenario.target.url`` is already resolved."""

    index: int
    workers: int
    scenario: Scenario
    flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S
    incarnation: int = 0  # which actor of this index (a restart makes a new one)
    archive: ArchiveSpec | None = None  # where the run's rows go (None: to the driver)


@dataclass(frozen=True)
class WorkerReady:
    index: int
    pid: int
    host: str
    connections: int
    node: str = ""  # the cluster node id, filled in by the actor shell
    address: str = ""  # the node's IP address, filled in by the actor shell
    incarnation: int = 0
    clock_offset_ns: int = 0  # its host's wall clock minus the driver's (filled in by the coordinator)
    clock_error_ns: int | None = None  # that offset's uncertainty; None: not measured


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
    fenced: FenceReason | None = None  # why the worker fenced itself, if it did
    last_seq: int = 0  # the newest sequence number recorded so far (of receipts, writing directly)
    receipts: list[Receipt] = field(default_factory=list)  # parts written, not yet acknowledged
    unwritten: int = 0  # rows recorded and in no complete part yet (writing directly)
    archive_error: str | None = None  # why the last write of a part failed, until one completes
    disk_problem: str | None = None  # that failure's disk problem ("disk full"...), if it is one

    @property
    def batches(self) -> list[pa.RecordBatch]:
        return [p.batch for p in self.parcels]

    @property
    def rows(self) -> int:
        return sum(p.batch.num_rows for p in self.parcels)


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
        h2_connections=http.connections,
    )


class LoadWorker:
    def __init__(
        self,
        spec: WorkerSpec,
        clock: Clock | None = None,
        transport_factory: TransportFactory = make_transport,
        reporter: Reporter | None = None,
        renewer: Renewer | None = None,
        client_factory: FlowClientFactory | None = None,
        archive: str | None = None,
    ) -> None:
        """``clock``, ``transport_factory`` (the fast path's transport) and
        ``client_factory`` (the flow path's client) are the seams a test injects.
        ``archive``: the run directory (path or URI) this worker writes its own parts
        to (see :mod:`loadray.engine.archiver`); None: its rows go to the driver."""
        self.spec = spec
        self.reporter = reporter
        self.renewer = renewer
        self.clock = clock = clock or SystemClock()
        scenario = spec.scenario
        cluster = scenario.cluster
        self.lease = Lease(int(cluster.lease_s * 1e9) if renewer is not None else NEVER)
        self.renew_interval_ns = int(cluster.renew_interval_s * 1e9)
        settings = transport_settings(scenario, secrets.token_hex(8) if scenario.trace else "")
        self.mode: Mode = make_mode(
            scenario, spec.index, spec.workers, clock, self.lease, settings, transport_factory, self._exhausted,
            client_factory,
        )
        self.buffer = self.mode.buffer
        self.outbox = Outbox()
        self.archive = archive
        self.archiver: Archiver | None = None
        self.archive_offload = True  # False: parts are written on the event loop (fake time)
        self._finished = False
        self._news = asyncio.Event()  # set when rows arrive in the outbox or the run ends
        self._last_counters = Counters()
        self._flows = FlowOutcomes()  # flow instances still running, across heartbeats
        self._live_steps = live_steps(scenario.thresholds, scenario.breakers)  # reported per step
        self._last_flush_ns, self._last_cpu_ns = clock.monotonic_ns(), clock.cpu_ns()
        self.exhausted: str | None = None  # the stop_run feeder that ran out

    async def prepare(self) -> WorkerReady:
        count = await self.mode.open()
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
        clock, mode = self.clock, self.mode
        anchor = epoch_anchor_ns(clock)
        self._start_ns = start_ns = start_epoch_ns - anchor
        end_ns = start_ns + int(self.spec.scenario.duration_s * 1e9)
        granted = clock.monotonic_ns() if granted_epoch_ns is None else granted_epoch_ns - anchor
        self.lease.grant(granted, end_ns + int(HARD_END_GRACE_S * 1e9))
        self._start_archiver(start_epoch_ns)
        flusher = asyncio.ensure_future(self._flush_periodically())
        keeper = asyncio.ensure_future(self._keep_lease()) if self.renewer is not None else None
        try:
            await mode.run(assignment or self.initial_assignment(), start_ns, end_ns)
            deadline = clock.monotonic_ns() + int((self.spec.scenario.http.timeout_s + DRAIN_MARGIN_S) * 1e9)
            await mode.drain(deadline)
        finally:
            await mode.close()  # whatever is still in flight becomes "cut"
            flusher.cancel()
            self.lease.fence(clock.monotonic_ns(), FINISHED)
            await self._report(self._flush())
            if self.archiver is not None:
                await self.archiver.finish()  # every row in a complete part (or said why not)
            self._finished = True
            self._news.set()
            if keeper is not None:
                keeper.cancel()
        return mode.counters

    def revise(self, assignment: Assignment) -> None:
        """Switch to ``assignment`` at its ``from_s`` (seconds since the common start)."""
        self.mode.revise(assignment)

    def stop(self) -> None:
        self.fence(STOPPED)

    def fence(self, reason: FenceReason) -> None:
        """Never send again (``reason``: one of :mod:`loadray.engine.lease`'s)."""
        self.lease.fence(self.clock.monotonic_ns(), reason)
        self.mode.stop()

    def _exhausted(self, feeder: str) -> None:
        """A ``stop_run`` feeder ran out: stop, and say so in the next heartbeat so the
        coordinator stops the whole run."""
        self.exhausted = feeder
        self.stop()

    async def wait_and_drain(self, acked: int, wait_s: float) -> Drained:
        """:meth:`drain`, but with nothing new to hand out wait up to ``wait_s`` for the
        next flush (or part, writing directly): a caller that keeps one such call
        outstanding gets every batch as soon as it is flushed (what a host loses with
        its link is then one flush)."""
        if self.archive is not None:  # only receipts and the end to hand out: no hurry
            wait_s = max(wait_s, DIRECT_LONG_POLL_S)
        if not self._has_news(acked) and not self._finished:
            self._news.clear()
            try:
                await asyncio.wait_for(self._news.wait(), wait_s)
            except asyncio.TimeoutError:
                pass
        return self.drain(acked)

    def _has_news(self, acked: int) -> bool:
        if self.archiver is not None:
            return bool(self.archiver.take(acked))
        self.outbox.take(acked)
        return bool(len(self.outbox))

    def drain(self, acked: int | None = None) -> Drained:
        """Rows (writing directly: parts) up to sequence ``acked`` reached the archive;
        hand out the rest. ``acked`` None: an in-process caller takes (and
        acknowledges) everything."""
        lease, archiver = self.lease, self.archiver
        if archiver is not None:
            parcels, receipts = [], archiver.take(0 if acked is None else acked)
            if acked is None:
                archiver.take(archiver.last_seq)
            last_seq, unwritten, error, disk = archiver.last_seq, self.outbox.rows, archiver.error, archiver.disk
        else:
            parcels = self.outbox.take_all() if acked is None else self.outbox.take(acked)
            receipts, last_seq, unwritten, error, disk = [], self.outbox.last_seq, 0, None, None
        return Drained(
            self.spec.index,
            parcels,
            replace(self.mode.counters),
            finished=self._finished,
            incarnation=self.spec.incarnation,
            fenced=lease.reason if lease.lapsed else None,
            last_seq=last_seq,
            receipts=receipts,
            unwritten=unwritten,
            archive_error=error,
            disk_problem=disk,
        )

    def _start_archiver(self, start_epoch_ns: int) -> None:
        if self.archive is None or self.archiver is not None:
            return
        spec, clock, where = self.spec, self.clock, self.archive

        def series() -> PartSeries:
            return PartSeries(locate(where), spec.index, spec.incarnation, start_epoch_ns,
                              clock=lambda: clock.monotonic_ns() / 1e9)

        self.archiver = Archiver(series, self.outbox, self.archive_offload)
        self.archiver.news = self._news.set
        self.archiver.start()

    def _flush(self) -> WorkerSecond:
        """Move what is recorded into the outbox; describe it as one heartbeat."""
        batch = self.buffer.flush()
        if batch is not None:
            self.outbox.put(batch, self.buffer.arrivals(batch))
            if self.archiver is None:
                self._news.set()
        if self.archiver is not None:
            self.archiver.poke()  # also with no new rows: a quiet worker's part completes
        side = self.mode.chunks.flush() if self.mode.chunks is not None else None
        if side is not None:  # the chunks/ side table rides along (to the driver or the archiver; no arrivals)
            self.outbox.put(side, 0)
            self._news.set()
        now_ns, cpu_ns = self.clock.monotonic_ns(), self.clock.cpu_ns()
        wall_s = max((now_ns - self._last_flush_ns) / 1e9, 1e-9)
        cpu_percent = 100.0 * (cpu_ns - self._last_cpu_ns) / 1e9 / wall_s
        lag_ms = max(0.0, wall_s - self.spec.flush_interval_s) * 1e3
        second = worker_second(  # at_ns on the rows' timeline: a wall-clock step mid-run moves nothing
            self.spec.index, batch, self.mode.counters, self._last_counters,
            now_ns + self.buffer.anchor_ns, lag_ms, cpu_percent, self.spec.incarnation, self._flows, self._live_steps,
        )
        self._last_counters = replace(self.mode.counters)
        self._last_flush_ns, self._last_cpu_ns = now_ns, cpu_ns
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
                if not self.lease.holds(now) and not self.mode.stopped:
                    self.mode.stop()
                task = asyncio.ensure_future(self._renew(now))
                pending.add(task)
                task.add_done_callback(pending.discard)
                await sleep_through(clock, now + self.renew_interval_ns)
        finally:
            for task in pending:
                task.cancel()

    async def _renew(self, sent_ns: int) -> None:
        assert self.renewer is not None  # the lease keeper runs only with one
        answer = await self.renewer(self.lease.lapsed)
        if answer == RENEWED:
            self.lease.renew(sent_ns)
        elif answer == LOST:
            self.fence(DECLARED_LOST)

    async def _flush_periodically(self) -> None:
        clock, interval_ns = self.clock, int(self.spec.flush_interval_s * 1e9)
        while True:
            await sleep_through(clock, clock.monotonic_ns() + interval_ns)
            await self._report(self._flush())
