"""The driver's side of a run: start the coordinator (which starts the workers), pass
it commands, read its status, and collect the workers' rows — or, from a worker that
writes its own parts (see :mod:`loadray.engine.archiver`), receipts of its parts.

Rows of a worker that does not write its own travel to the driver through Ray's
object store; the coordinator only carries control and statistics. A drain call never blocks the
driver: one is kept outstanding per worker incarnation and picked up when it
answers. What the driver has written is acknowledged on the next call, so a worker
keeps every row until the archive has it — also across a partition, and also after
the coordinator declared it lost.
"""

from __future__ import annotations

import concurrent.futures
import functools
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from loadray.archive.part_series import WrittenPart
from loadray.cluster.coordinator import Coordinator, RunRecord
from loadray.cluster.runtime import cluster_cpus
from loadray.cluster.waker import Waker
from loadray.engine.archiver import ArchiveSpec
from loadray.engine.worker import Drained, WorkerReady
from loadray.errors import ClusterError, CoordinatorLost
from loadray.fleet.accounting import Delivery, Tally, tally
from loadray.fleet.actions import Key
from loadray.live.command import Command
from loadray.live.status import LiveStatus
from loadray.scenario.model import LOSS_MARGIN_S, Scenario

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 2.0
CALL_TIMEOUT_S = 10.0
SETTLE_TIMEOUT_S = 5.0  # after the end: how long to wait for rows of silent workers
LONG_POLL_S = 1.0  # a drain call with nothing to hand out waits this long for the next flush
WORKERS_EVERY_S = 5.0  # how often the driver asks the coordinator for new incarnations...
WORKERS_QUIET_S = 30.0  # ... or this, while its status polls tell of no event (loss, restart)

Write = Callable[[int, pa.RecordBatch], None]
OnPart = Callable[[WrittenPart], None]
#: What workers writing to a storage URI need from the driver's environment.
STORAGE_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
               "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE",
               "AWS_EC2_METADATA_DISABLED", "GOOGLE_APPLICATION_CREDENTIALS")


def _coordinator_answers(method):
    """``method`` talks to the coordinator mid-run: its death, or an answer
    ``CALL_TIMEOUT_S`` late, is :class:`CoordinatorLost`."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except ray.exceptions.RayActorError as exc:
            raise CoordinatorLost(f"the coordinator actor died ({type(exc).__name__})") from None
        except ray.exceptions.GetTimeoutError:
            raise CoordinatorLost(f"the coordinator did not answer within {CALL_TIMEOUT_S:g} s") from None

    return call


class _Inbox:
    """What the driver has of one worker incarnation."""

    __slots__ = ("handle", "acked", "arrivals", "pending", "last", "dead")

    def __init__(self, handle) -> None:
        self.handle = handle
        self.acked = 0  # highest sequence number written to the archive
        self.arrivals = 0
        self.pending: concurrent.futures.Future | None = None  # the outstanding drain call
        self.last: Drained | None = None
        self.dead = False

    @property
    def complete(self) -> bool:
        last = self.last
        return last is not None and last.finished and self.acked >= last.last_seq and not last.unwritten

    @property
    def given_up(self) -> bool:
        """Finished with rows its own archive could not write (the store refused them or
        did not answer): nothing more comes from it."""
        last = self.last
        return last is not None and last.finished and bool(last.unwritten) and last.archive_error is not None


class Launcher:
    def __init__(self, scenario: Scenario, ready_timeout_s: float = READY_TIMEOUT_S,
                 archive: str | None = None, on_part: OnPart | None = None,
                 environ: dict[str, str] | None = None) -> None:
        """``archive``: the run directory (path or URI) workers may write their own
        parts to (None: every row goes through the driver); ``on_part`` hears of each
        part a worker completed; ``environ``: where the storage's settings come from."""
        self.scenario = scenario
        self.archive = archive
        self.on_part = on_part
        self.environ = environ if environ is not None else {}
        self.archive_errors: dict[Key, str] = {}  # the last failed part write of a worker
        self._workers_at = -WORKERS_QUIET_S
        self._workers_moved = True  # a status poll told of events (losses, restarts) since the last look
        self.disk_full: str | None = None  # the disk refused a worker's part ("disk full", "read-only file system"...)
        self.worker_cpus = scenario.cluster.worker_cpus
        self.ready_timeout_s = ready_timeout_s
        self.coordinator: Any = None  # a Ray actor handle
        self.driver_node = ""  # the node id of the driver (known once started)
        self.inboxes: dict[Key, _Inbox] = {}
        self._wake = Waker()  # set by every answer (drains, the status poll) and by wake()
        self._woken = False
        self._status_poll: concurrent.futures.Future | None = None
        self._status_due = 0.0
        self._seen: tuple | None = None  # the news of the last status polled (Coordinator._news)
        self.answered_ns = 0  # when the coordinator last answered a status poll (epoch ns)
        self._every_s = 0.0  # the status polls' interval

    def start(self) -> list[WorkerReady]:
        """Start the coordinator and every worker, pre-warmed; all or nothing."""
        n = self.scenario.workers
        need, have = self.worker_cpus * n, cluster_cpus()
        if need > have:
            raise ClusterError(
                f"workers: {n} workers x cluster.worker_cpus {self.worker_cpus:g} "
                f"need {need:g} CPUs, the Ray cluster has {have:g}"
            )
        # on the driver's own node: losing a generator node must not take the coordinator
        self.driver_node = node = ray.get_runtime_context().get_node_id()
        here = NodeAffinitySchedulingStrategy(node, soft=False)
        archive = None if self.archive is None else ArchiveSpec(self.archive, node)
        env = {k: v for k, v in self.environ.items() if k in STORAGE_ENV} if archive is not None else {}
        self.coordinator = ray.remote(Coordinator).options(
            num_cpus=0, max_concurrency=1000, scheduling_strategy=here
        ).remote(self.scenario, self.worker_cpus, archive, env)
        ready, error = ray.get(
            self.coordinator.prepare.remote(self.ready_timeout_s), timeout=self.ready_timeout_s + CALL_TIMEOUT_S
        )
        if error:
            self.kill()
            raise ClusterError(error)
        return ready

    def begin(self) -> int:
        start_ns = ray.get(self.coordinator.begin.remote(), timeout=CALL_TIMEOUT_S)
        self.answered_ns = time.time_ns()
        return start_ns

    def last_send_ns(self) -> int:
        """No worker sent after this, however the coordinator was lost: it answered last at
        ``answered_ns`` and would have answered again a poll interval later, and a worker
        stops a lease after its last acknowledged renewal (the loss margin on top)."""
        return self.answered_ns + int((self._every_s + self.scenario.cluster.lease_s + LOSS_MARGIN_S) * 1e9)

    def status(self) -> LiveStatus:
        return ray.get(self.coordinator.status.remote(), timeout=CALL_TIMEOUT_S)

    def finished(self) -> bool:
        return self.status().state == "finished"

    def wait(self, timeout_s: float) -> bool:
        """Poll until the run has finished or ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        while not self.finished():
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.1, timeout_s))
        return True

    @_coordinator_answers
    def collect(self, write: Write, wait_s: float = 0.0) -> int:
        """For up to ``wait_s``, write each incarnation's rows as soon as it answers and
        ask it again at once (one long-polling drain outstanding per incarnation, so rows
        leave a worker right after each flush); acknowledged on the next call. Returns
        the rows written; early when every incarnation delivered all it recorded, the
        status poll (:meth:`poll_status`) answered, a worker's part met a full disk or
        :meth:`wake` was called. It sleeps until an
        answer comes (no Ray call, no periodic wake-up while nothing does)."""
        self._refresh_workers()
        deadline, rows, disk_full = time.monotonic() + wait_s, 0, self.disk_full
        while True:
            self._wake.clear()
            ready = [box for box in self._ask() if box.pending is not None and box.pending.done()]
            rows += sum(self._take(box, write) for box in ready)
            left = deadline - time.monotonic()
            everything_in = bool(ready) and not self._ask()  # the last answers completed every incarnation
            if left <= 0 or everything_in or self._status_answered() or self._woken or self.disk_full != disk_full:
                self._woken = False
                return rows
            if not ready:
                self._wake.wait(left)

    @_coordinator_answers
    def poll_status(self, every_s: float) -> LiveStatus | None:
        """The live status by long poll: None until the coordinator answers (after
        ``every_s``, or at once when the state changes, a warning comes or the run is
        aborted: see :meth:`Coordinator.watch`), then its answer; the next poll starts
        at once (none after the end). :class:`CoordinatorLost` when an answer is
        ``CALL_TIMEOUT_S`` late."""
        poll = self._status_poll or self._start_status_poll(every_s)
        if not poll.done():
            if time.monotonic() > self._status_due:
                raise CoordinatorLost(f"the coordinator did not answer within {CALL_TIMEOUT_S:g} s")
            return None
        status, news = poll.result()
        self.answered_ns = time.time_ns()
        self._workers_moved |= self._seen is not None and news[-1] != self._seen[-1]  # an event: a loss, a restart
        self._status_poll, self._seen = None, news
        if status.state != "finished":
            self._start_status_poll(every_s)  # the next one is on its way while the caller works
        return status

    def _start_status_poll(self, every_s: float) -> concurrent.futures.Future:
        self._every_s = every_s
        self._status_poll = self._future(self.coordinator.watch.remote(every_s, self._seen))
        self._status_due = time.monotonic() + every_s + CALL_TIMEOUT_S
        return self._status_poll

    def wake(self) -> None:
        """End a :meth:`collect` now (a signal handler may call it)."""
        self._woken = True
        self._wake.set()

    def _status_answered(self) -> bool:
        return self._status_poll is not None and self._status_poll.done()

    def _future(self, ref) -> concurrent.futures.Future:
        future = ref.future()
        future.add_done_callback(lambda _: self._wake.set())
        return future

    def _refresh_workers(self, force: bool = False) -> None:
        """Learn of new incarnations (a restart), at most every WORKERS_EVERY_S; every
        WORKERS_QUIET_S while the status polls tell of no event (each call to the
        coordinator costs the driver ~1 ms of CPU)."""
        now, every = time.monotonic(), WORKERS_EVERY_S if self._workers_moved else WORKERS_QUIET_S
        if now < self._workers_at + every and not force:
            return
        self._workers_at, self._workers_moved = now, False
        for index, incarnation, handle, _ in ray.get(self.coordinator.workers.remote(), timeout=CALL_TIMEOUT_S):
            self.inboxes.setdefault((index, incarnation), _Inbox(handle))

    def _ask(self) -> list[_Inbox]:
        """A drain call outstanding for every incarnation that may still hold rows."""
        for box in self.inboxes.values():
            if box.pending is None and not box.dead and not box.complete:
                box.pending = self._future(box.handle.drain.remote(box.acked, LONG_POLL_S))
        return [box for box in self.inboxes.values() if box.pending is not None]

    def _take(self, box: _Inbox, write: Write) -> int:
        future, box.pending = box.pending, None
        assert future is not None  # _take is given only boxes with a drain outstanding
        try:
            drained: Drained = future.result()
        except ray.exceptions.RayError:  # the actor is gone with what it held
            box.dead = True
            return 0
        box.last = drained
        if drained.archive_error:
            self.archive_errors[(drained.index, drained.incarnation)] = drained.archive_error
        if drained.disk_problem and self.disk_full is None:
            self.disk_full = drained.disk_problem
        rows = 0
        for receipt in drained.receipts:
            if receipt.seq > box.acked:  # a receipt handed out twice is counted once
                if self.on_part is not None:
                    self.on_part(receipt.part)
                box.acked = receipt.seq
                box.arrivals += receipt.part.arrivals
                rows += receipt.part.rows
        for parcel in drained.parcels:
            if parcel.seq > box.acked:  # a parcel handed out twice is written once
                write(drained.index, parcel.batch)
                box.acked = parcel.seq
                box.arrivals += parcel.arrivals
                rows += parcel.batch.num_rows
        return rows

    @_coordinator_answers
    def settle(self, write: Write, timeout_s: float = SETTLE_TIMEOUT_S) -> None:
        """After the end: collect until every incarnation delivered all it recorded (or
        finished without its store taking it all), its actor is gone, or ``timeout_s``
        passed (a host that never came back)."""
        deadline, self._status_poll = time.monotonic() + timeout_s, None
        self._refresh_workers(force=True)  # every incarnation, also one started just now
        while not all(box.complete or box.dead or box.given_up for box in self.inboxes.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.collect(write, wait_s=left)  # returns once everything is in

    def unwritten(self) -> int:
        """Rows the workers recorded and wrote in no complete part (as they last said)."""
        return sum(box.last.unwritten for box in self.inboxes.values() if box.last is not None)

    def found(self, part: WrittenPart) -> None:
        """A part in the archive whose receipt never came (its worker died after
        writing it): its arrivals count as delivered."""
        box = self.inboxes.get((part.worker, part.incarnation))
        if box is not None:
            box.arrivals += part.arrivals

    def delivered(self) -> int:
        """Arrivals the archive has a row for, over every incarnation."""
        return sum(box.arrivals for box in self.inboxes.values())

    def tally(self, record: RunRecord) -> Tally:
        """``planned = rows + lost + unknown`` over every incarnation."""
        total = Tally()
        model_schedules = self.scenario.model == "open"
        for share in record.shares:
            box = self.inboxes.get((share.index, share.incarnation))
            counters = box.last.counters if box is not None and box.last else None
            delivery = Delivery() if box is None else Delivery(
                box.arrivals, counters.intended if counters else None, box.complete,
                counters.skipped if counters else 0,
            )
            total += tally(share, delivery, record.stop_s, model_schedules)
        return total

    def control(self, command: Command) -> str:
        return ray.get(self.coordinator.control.remote(command), timeout=CALL_TIMEOUT_S)

    @_coordinator_answers
    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        self._status_poll = None
        ray.get(self.coordinator.stop.remote(), timeout=CALL_TIMEOUT_S)
        return self.wait(timeout_s)

    @_coordinator_answers
    def record(self) -> RunRecord:
        return ray.get(self.coordinator.record.remote(), timeout=CALL_TIMEOUT_S)

    def kill(self, lost: bool = False) -> None:
        """Stop the workers, then the coordinator (``lost``: it cannot be asked; its
        workers go with it)."""
        if self.coordinator is not None:
            try:
                if not lost:
                    ray.get(self.coordinator.kill_all.remote(), timeout=CALL_TIMEOUT_S)
            except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError):
                pass
            ray.kill(self.coordinator, no_restart=True)
            self.coordinator = None
