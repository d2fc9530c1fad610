"""Writer of the ``chunks/`` side table (:mod:`loadray.stream.table`) into the run
directory: one part series per worker, ``chunks/worker-007-0000.parquet``, each batch
(one worker flush: whole requests) one row group, so a reader taking a row group at a
time always has every chunk of a request together. Parts are written under a hidden
temporary name and renamed once complete (:mod:`.part`): at ``rows_per_file`` rows, once
open as long as a samples part may stay open (5 s, growing to 30 s in long runs: a
driver that dies mid-run leaves the chunks it had before that, as it leaves the
samples), and at :meth:`ChunkSink.close`. The directory exists only when some step
streamed.

A full disk (ENOSPC, EDQUOT, EIO, EFBIG), or any other write the disk refuses (a
read-only file system, chunks/ removed or made immutable: :mod:`.diskspace`), while a
part is written or finished stops the sink as it stops the samples': the open parts
are dropped, and :class:`~loadray.errors.DiskError` says ``disk full at <run>/chunks
after N chunk rows; the archive holds the M chunk rows written before`` (``read-only
file system at``... for another refusal; exit 1); :func:`close_archive`
records that cut in the samples' manifest, so the report says the run was stopped early
and its LLM figures come from the finished parts only.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from loadray.errors import DiskError
from loadray.stream.table import CHUNK_SCHEMA, CHUNKS_DIR, is_chunk_batch

from .diskspace import cut_message, disk_problem, write_guard
from .part import OpenPart, part_name
from .sink import DEFAULT_ROLL_S, roll_after_s

__all__ = ["ChunkSink", "close_archive", "route_chunks"]

DEFAULT_ROWS_PER_FILE = 4_000_000

Write = Callable[[int, pa.RecordBatch], None]


class ChunkSink:
    """``write`` and ``close`` may be called from several threads (serialized by a lock)."""

    def __init__(self, run_dir: str | os.PathLike[str], rows_per_file: int = DEFAULT_ROWS_PER_FILE,
                 roll_s: float = DEFAULT_ROLL_S, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], int] = time.time_ns) -> None:
        self.directory = Path(run_dir) / CHUNKS_DIR
        self.rows_per_file, self.roll_s, self._clock, self._wall_clock = rows_per_file, roll_s, clock, wall_clock
        self._t0 = clock()
        self.rows = 0  # rows handed to write (also those a full disk then lost)
        self.rows_kept = 0  # rows in finished parts
        self.failure: DiskError | None = None  # the disk error that stopped the sink
        self.cut: tuple[str, int] | None = None  # (its problem, "disk full"..., wall ns it came at)
        self._open: dict[int, OpenPart] = {}
        self._parts: dict[int, int] = {}
        self._lock = threading.Lock()

    def write(self, worker: int, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        with self._lock:
            if self.failure is not None:
                raise self.failure
            self.rows += batch.num_rows
            with write_guard(self._fail):
                self._append(worker, batch)

    def close(self) -> None:
        """Finish every open part; :class:`DiskError` when the disk cannot take one (it and
        those not finished yet are dropped). Nothing more after a disk error."""
        with self._lock:
            if self.failure is not None:
                return
            with write_guard(self._fail):
                for worker in list(self._open):
                    self._finish(worker)

    def abort(self) -> None:
        """Drop the open parts (their rows are lost): the run stopped on a full disk elsewhere."""
        with self._lock:
            self._drop()

    def _append(self, worker: int, batch: pa.RecordBatch) -> None:
        part = self._open.get(worker)
        if part is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            number = self._parts[worker] = self._parts.get(worker, -1) + 1
            part = self._open[worker] = OpenPart(self.directory, part_name(worker, number), CHUNK_SCHEMA,
                                                 self._clock())
        part.write(pa.Table.from_batches([batch.cast(CHUNK_SCHEMA)]))
        now = self._clock()
        if part.rows >= self.rows_per_file or now - part.opened_at >= roll_after_s(now - self._t0, self.roll_s):
            self._finish(worker)

    def _finish(self, worker: int) -> None:
        self._open[worker].finish()
        self.rows_kept += self._open.pop(worker).rows

    def _drop(self) -> None:
        for part in self._open.values():
            part.abort()
        self._open.clear()

    def _fail(self, exc: OSError) -> None:
        """The disk refused a write (full, read-only...): drop the open parts (never
        renamed into place half written) and stop; this and every later write raise the
        same :class:`DiskError`."""
        self._drop()
        problem = disk_problem(exc)
        self.cut = (problem, self._wall_clock())
        self.failure = DiskError(cut_message(problem, self.directory, self.rows, self.rows_kept, "chunk rows"))
        raise self.failure


def close_archive(samples, chunks: ChunkSink | None, run_end_ns: int, record: dict | None) -> None:
    """Close the run's archive, the ``chunks/`` side table first: a full disk there (now
    or mid-run) is the run's (:class:`DiskError`) and cuts the samples
    (:meth:`.SampleSink.cut_by`), which are completed all the same. After the samples met
    a full disk, the chunk parts still open are dropped like theirs and nothing more is
    raised (the run unwinds with the samples' error). ``chunks`` None: the workers wrote
    them (a storage URI, :mod:`.part_series`)."""
    if chunks is None:
        samples.close(run_end_ns, record)
        return
    try:
        if getattr(samples, "failure", None) is not None:
            chunks.abort()
        else:
            chunks.close()
    finally:
        if chunks.failure is not None and chunks.cut is not None:
            samples.cut_by(chunks.failure, *chunks.cut)
        samples.close(run_end_ns, record)


def route_chunks(samples: Write, chunks: Write) -> Write:
    """One ``write`` for what workers hand out: ``chunks/`` batches to ``chunks``, the
    samples to ``samples``."""

    def write(worker: int, batch: pa.RecordBatch) -> None:
        (chunks if is_chunk_batch(batch) else samples)(worker, batch)

    return write
