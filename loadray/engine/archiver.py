"""A worker writing its own rows to the run's storage (no row through the driver).

Every flush puts a batch in the worker's :class:`~loadray.engine.outbox.Outbox`; the
archiver hands the batches it has not handed yet to the worker's
:class:`~loadray.archive.part_series.PartSeries` (in a thread: Parquet encoding and
uploads stay off the event loop). When a part completes, the rows in it are durable:
they leave the outbox (that is the acknowledgement) and a :class:`Receipt` waits for
the driver, who lists the part in the manifest and counts its arrivals. Rows recorded
but in no complete part when a worker dies are the run's ``unknown``, as before.

A write that fails (the store is unreachable, the disk is full) drops the open part
(never renamed into place half written; the drop, which asks the store to delete what
may have landed, runs in the writing thread too: a store that does not answer never
holds up the event loop, its sends or its lease); its rows stay in the outbox and are
written again at the next flush. The failure is said in ``error`` (and told the driver at once)
until a part completes again. After its load a worker waits at most :data:`FINISH_WAIT_S`
for its last part (a store that does not answer would hold it ~40 s an attempt): the rows
it holds then are the run's ``unknown``. One the operating system raised (a full disk, and as well
a read-only file system, a directory removed or made immutable: no second attempt mends
it) is also said in ``disk`` (``disk full``, ``read-only file system``...): the driver
stops the run on it as on a full disk.

Which workers write directly (:func:`writes_directly`): all of them when the run
directory is a storage URI (``file://`` means a mount every host shares); with a
local path only those on the driver's own node, the others hand their rows to the
driver as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from loadray.archive.diskspace import disk_problem, stops_writing
from loadray.archive.fs import is_uri
from loadray.archive.part_series import PartSeries, WrittenPart
from loadray.engine.outbox import Outbox

__all__ = ["FINISH_WAIT_S", "ArchiveSpec", "Archiver", "Receipt", "writes_directly"]

#: How long a worker waits, after its load, for the store to take its last part: a store
#: that does not answer holds each upload for the SDK's limits (~40 s with its retries).
FINISH_WAIT_S = 10.0


@dataclass(frozen=True)
class ArchiveSpec:
    """Where the run's rows go: ``location`` (the run directory: a local path or a
    storage URI), and the node id of the driver, whose local directory it is."""

    location: str
    driver_node: str = ""


def writes_directly(spec: ArchiveSpec | None, node: str) -> bool:
    """Whether a worker on ``node`` writes its own parts (see the module docstring)."""
    if spec is None:
        return False
    return is_uri(spec.location) or (bool(spec.driver_node) and node == spec.driver_node)


@dataclass(frozen=True)
class Receipt:
    """A part the worker completed, numbered for the driver's acknowledgement."""

    seq: int
    part: WrittenPart


class Archiver:
    """``make_series`` opens the worker's series (first thing in the writing thread, so
    a store that cannot be reached yet is a write failure like any other); ``offload``
    False writes on the event loop itself (tests in fake time)."""

    def __init__(self, make_series: Callable[[], PartSeries], outbox: Outbox, offload: bool = True) -> None:
        self.make_series, self.outbox, self.offload = make_series, outbox, offload
        self.series: PartSeries | None = None
        self.error: str | None = None  # the last write failure, until a part completes again
        self.disk: str | None = None  # that failure's disk problem ("disk full"...), if the OS raised it
        self._handed = 0  # the newest batch handed to the series
        self._receipts: list[Receipt] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task | None = None
        self.news: Callable[[], None] = lambda: None  # told when a receipt is ready

    @property
    def last_seq(self) -> int:
        return self._seq

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    def poke(self) -> None:
        """New rows in the outbox: write them (and roll what is due)."""
        self._wake.set()

    async def finish(self, within_s: float = FINISH_WAIT_S) -> bool:
        """Write everything left and complete the open part; True when done, False when
        the store took longer than ``within_s`` (it does not answer): the rows in no
        complete part stay unwritten (the run counts them unknown) and the worker ends
        all the same; the writing goes on in its thread (a part it completes later is
        found by the driver, if the run still lists parts then)."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), within_s)
        except asyncio.TimeoutError:
            self.error = f"the store did not take the last part in {within_s:g} s"
            self.news()
            return False
        return True

    def take(self, acked: int) -> list[Receipt]:
        """Forget the receipts the driver has (up to ``acked``); the rest."""
        self._receipts = [r for r in self._receipts if r.seq > acked]
        return list(self._receipts)

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            closing = self._closing
            await self._step(closing)
            if closing:
                return

    async def _step(self, closing: bool) -> None:
        parcels = self.outbox.after(self._handed)

        def work() -> list[WrittenPart]:
            try:
                if self.series is None:
                    self.series = self.make_series()
                done = []
                for p in parcels:
                    done += self.series.append(p.batch, p.arrivals, p.seq)
                return done + (self.series.close() if closing else self.series.roll_due())
            except Exception:
                if self.series is not None:  # its delete waits on the store too: off the event loop
                    self.series.abort()
                raise

        try:
            done = await asyncio.get_running_loop().run_in_executor(None, work) if self.offload else work()
        except Exception as exc:  # the store or the disk refused: write it all again later
            self._handed = self.outbox.acked
            self.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            self.disk = disk_problem(exc) if stops_writing(exc) else None
            self.news()  # the driver hears of it now
            return
        if done:  # a part is complete again
            self.error = self.disk = None
        if parcels:
            self._handed = parcels[-1].seq
        for part in done:
            self.outbox.drop(part.last_seq)
            self._seq += 1
            self._receipts.append(Receipt(self._seq, part))
        if done:
            self.news()
