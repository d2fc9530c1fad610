"""Streaming writer of sample batches into ``<run_dir>/samples/``, crash-consistent.

One file series per worker: ``worker-007-0000.parquet``, ``worker-007-0001.parquet``...
(integers delta-packed and LZ4, text zstd: :func:`.part.parquet_writer`; schema
:data:`loadray.schema.SCHEMA`). A part is written under a hidden
temporary name and renamed into place once complete (see :mod:`.part`), so a reader
never sees half a part. Parts are rolled often: at ``rows_per_file`` rows, and when a
part has been open :func:`roll_after_s` seconds (5 s early in a run, up to 30 s in a
long one, so an hour makes ~150 parts per worker, not 720); a crash or a full disk
loses at most the rows of the parts still open. ``samples/_manifest.json`` (see
:mod:`.manifest`) lists the complete parts with their row counts, rewritten atomically.

A full disk (ENOSPC, EDQUOT, EIO, EFBIG) stops the sink: the open parts are dropped,
a small space reserve is released, the manifest records the cut, and
:class:`~loadray.errors.DiskError` says ``disk full at <dir> after N rows; the archive
holds the M rows written before`` (exit 1). Later writes raise the same error. Any
other write the disk refuses stops it alike, in the OS's words (``read-only file
system at <dir>...``, ``operation not permitted``, ``no such file or directory``: see
:mod:`.diskspace`); when the manifest cannot be written either, the last one written
stays (not complete, the parts are then the truth). A full
disk under the run's ``chunks/`` (:meth:`SampleSink.cut_by`) ends the run too: the open
parts are completed with the reserve's space and the manifest records that cut.

File key-value metadata (every file): ``loadray.schema_version`` and
``loadray.run_start_ns``; the parts open at :meth:`SampleSink.close` also get
``loadray.run_end_ns`` (and the run's record), which the manifest holds as well.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from loadray.errors import ArchiveError, DiskError
from loadray.schema import SCHEMA

from .diskspace import DEFAULT_RESERVE_BYTES, SpaceReserve, cut_message, disk_problem, write_guard
from .manifest import Manifest, PartEntry, write_manifest
from .part import COMPRESSION, OpenPart, part_name

__all__ = [
    "SampleSink",
    "RUN_START_KEY",
    "RUN_END_KEY",
    "DEFAULT_ROWS_PER_FILE",
    "DEFAULT_ROW_GROUP_ROWS",
    "DEFAULT_ROLL_S",
    "COMPRESSION",
    "part_name",
    "roll_after_s",
]

RUN_START_KEY = "loadray.run_start_ns"
RUN_END_KEY = "loadray.run_end_ns"
RUN_RECORD_KEY = "loadray.run"
DEFAULT_ROWS_PER_FILE = 2_000_000
#: Rows are buffered per worker and written as Parquet row groups of this size (small
#: timer-flushed batches would otherwise become tiny row groups that compress badly).
DEFAULT_ROW_GROUP_ROWS = 131_072
#: A part is complete (renamed into place) at most this long after it was opened...
DEFAULT_ROLL_S = 5.0
#: ...growing with the run's age (1/20 of it) up to this, to bound the number of parts.
MAX_ROLL_S = 30.0


class PartLike(Protocol):
    file: str
    worker: int
    rows: int


def roll_after_s(elapsed_s: float, roll_s: float = DEFAULT_ROLL_S) -> float:
    """How long a part may stay open ``elapsed_s`` into the run."""
    return min(max(roll_s, elapsed_s / 20.0), max(roll_s, MAX_ROLL_S))


class _Series:
    """One worker's open part, and its rows not yet handed to the writer."""

    __slots__ = ("worker", "part", "open", "rows", "pending", "pending_rows")

    def __init__(self, worker: int) -> None:
        self.worker = worker
        self.part = -1
        self.open: OpenPart | None = None
        self.rows = 0  # rows of the open part, written or pending
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    def flush(self) -> None:
        if self.pending and self.open is not None:
            self.open.write(self.pending[0] if len(self.pending) == 1 else pa.concat_tables(self.pending))
        self.pending = []
        self.pending_rows = 0


class SampleSink:
    """Appends Arrow record batches to per-worker Parquet parts.

    ``write`` and ``tick`` may be called from several threads; they are serialized by a
    lock. Batches whose schema differs from :data:`SCHEMA` only in representation (plain
    strings instead of dictionaries) are cast; anything else raises ``ArchiveError``.
    """

    def __init__(
        self,
        samples_dir: str | os.PathLike[str],
        run_start_ns: int,
        rows_per_file: int = DEFAULT_ROWS_PER_FILE,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        *,
        roll_s: float = DEFAULT_ROLL_S,
        clock: Callable[[], float] = time.monotonic,
        reserve_bytes: int = DEFAULT_RESERVE_BYTES,
        wall_clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if rows_per_file < 1 or row_group_rows < 1 or not roll_s > 0:
            raise ValueError("rows_per_file, row_group_rows and roll_s must be > 0")
        self.samples_dir = Path(samples_dir)
        self.run_start_ns = int(run_start_ns)
        self.rows_per_file = int(rows_per_file)
        self.row_group_rows = int(row_group_rows)
        self.roll_s = float(roll_s)
        self._clock = clock
        self._wall_clock = wall_clock
        self._t0 = clock()
        self._schema = SCHEMA.with_metadata(
            {**(SCHEMA.metadata or {}), RUN_START_KEY.encode(): str(self.run_start_ns).encode()}
        )
        self._series: dict[int, _Series] = {}
        self._manifest = Manifest(run_start_ns=self.run_start_ns)
        self._dirty = False
        self._rows_received = 0
        self._files: list[Path] = []
        self._closed = False
        self._failure: DiskError | None = None
        self._cut_by: str | None = None  # the line of another writer's full disk (cut_by)
        self._lock = threading.Lock()
        self._guarded(self._start, reserve_bytes)

    def _start(self, reserve_bytes: int) -> None:
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self._reserve = SpaceReserve(self.samples_dir, reserve_bytes)
        write_manifest(self.samples_dir, self._manifest)

    # -- public ---------------------------------------------------------------------

    @property
    def rows_written(self) -> int:
        """Rows handed to :meth:`write` (also those a full disk then lost)."""
        return self._rows_received

    @property
    def rows_kept(self) -> int:
        """Rows in complete parts: what a reader finds if the process dies now."""
        return self._manifest.rows

    @property
    def files(self) -> list[Path]:
        """Every part opened so far (final names), in creation order."""
        return list(self._files)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def failure(self) -> DiskError | None:
        """The disk error that stopped the sink, if one did."""
        return self._failure

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def add_part(self, part: PartLike) -> None:
        """List a part a worker wrote itself (see :mod:`.ledger`) in the manifest (saved
        at the next :meth:`tick`); its rows count as received and kept."""
        with self._lock:
            self._manifest = self._manifest.with_part(PartEntry(part.file, part.worker, part.rows))
            self._rows_received += part.rows
            self._dirty = True

    def write(self, worker: int, batch: pa.RecordBatch | pa.Table) -> None:
        """Append ``batch`` (rows of ``worker``) to that worker's open part."""
        with self._lock:
            self._check_usable()
            table = self._conform(batch)
            if table.num_rows == 0:
                return
            self._rows_received += table.num_rows
            series = self._series.get(worker)
            if series is None:
                series = self._series[worker] = _Series(int(worker))
            self._guarded(self._append, series, table)
            self._guarded(self._roll_due)

    def tick(self) -> None:
        """Complete the parts that have been open long enough (call it now and then,
        also when no rows come: a quiet worker's part is completed all the same)."""
        with self._lock:
            self._check_usable()
            self._guarded(self._roll_due)

    def close(self, run_end_ns: int, record: dict | None = None) -> None:
        """Complete every open part, stamping ``run_end_ns`` (and the live run's
        ``record``: events, lost requests, warnings, abort reason, as JSON under
        ``loadray.run``) on it and in the manifest. Idempotent. After a disk error the
        run's end is when the disk stopped it, if that was earlier.

        If nothing was written at all, one empty part is written so the run's start and
        end times are in a sample file too. After a disk error, only the manifest is
        updated (best effort) and nothing is raised.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            cut = self._manifest.cut
            if cut is not None:  # the run ended where the disk stopped it
                run_end_ns = min(int(run_end_ns), cut["at_ns"])
            self._manifest = replace(self._manifest, run_end_ns=int(run_end_ns), record=record)
            if self._failure is not None:
                if cut is not None:
                    self._cut(cut["problem"], cut["at_ns"])
                self._save_quietly()
                return
            self._guarded(self._close_parts, run_end_ns, record)

    def __enter__(self) -> SampleSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(time.time_ns())  # without an explicit close(run_end_ns): "now"

    # -- internals --------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise ArchiveError(f"{self.samples_dir}: sample sink is already closed")

    def _conform(self, batch: pa.RecordBatch | pa.Table) -> pa.Table:
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if table.schema.equals(SCHEMA, check_metadata=False):
            return table.replace_schema_metadata(self._schema.metadata)
        try:
            table = table.select(list(SCHEMA.names)).cast(self._schema)
        except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
            raise ArchiveError(f"{self.samples_dir}: batch does not match the sample schema: {exc}") from None
        return table

    def _append(self, series: _Series, table: pa.Table) -> None:
        offset, n = 0, table.num_rows
        while offset < n:
            if series.open is None:
                self._open(series)
            take = min(n - offset, self.rows_per_file - series.rows)
            series.pending.append(table.slice(offset, take))
            series.pending_rows += take
            series.rows += take
            offset += take
            if series.pending_rows >= self.row_group_rows:
                series.flush()
            if series.rows >= self.rows_per_file:
                self._finish(series)

    def _open(self, series: _Series) -> None:
        series.part += 1
        name = part_name(series.worker, series.part)
        series.open = OpenPart(self.samples_dir, name, self._schema, self._clock())
        series.rows = 0
        self._files.append(self.samples_dir / name)

    def _finish(self, series: _Series, metadata: dict[str, str] | None = None) -> None:
        series.flush()
        part = series.open
        assert part is not None
        part.finish(metadata)
        series.open = None
        self._manifest = self._manifest.with_part(PartEntry(part.name, series.worker, part.rows))
        self._dirty = True

    def _roll_due(self) -> None:
        now = self._clock()
        limit = roll_after_s(now - self._t0, self.roll_s)
        for series in self._series.values():
            if series.open is not None and now - series.open.opened_at >= limit:
                self._finish(series)
        if self._dirty:
            write_manifest(self.samples_dir, self._manifest)
            self._dirty = False

    def _close_parts(self, run_end_ns: int, record: dict | None) -> None:
        end = {RUN_START_KEY: str(self.run_start_ns), RUN_END_KEY: str(int(run_end_ns))}
        if record is not None:
            end[RUN_RECORD_KEY] = json.dumps(record, sort_keys=True)
        if not self._files and not self._manifest.parts:
            self._series[0] = _Series(0)
            self._open(self._series[0])
        for series in self._series.values():
            if series.open is not None:
                self._finish(series, end)
        cut = self._manifest.cut  # set by cut_by, with the final counts now
        cut = cut and {**cut, "rows_received": self._rows_received, "rows_kept": self._manifest.rows}
        self._manifest = replace(self._manifest, complete=True, cut=cut)
        write_manifest(self.samples_dir, self._manifest)
        self._reserve.release()

    def _guarded(self, step: Callable, *args: object) -> None:
        """Run ``step``; any write the disk refuses stops the sink (see :meth:`_fail`)."""
        with write_guard(self._fail):
            step(*args)

    def worker_disk_failed(self, problem: str, unwritten: int) -> None:
        """A worker writing its own parts here met a full disk or another write the disk
        refused (``problem``: "disk full", "read-only file system"...) with ``unwritten``
        rows in no complete part: stop like :meth:`write` would (the rows count as
        received, not kept); raises :class:`DiskError`."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            self._rows_received += unwritten
            self._stop(problem)

    def cut_by(self, failure: DiskError, problem: str, at_ns: int) -> None:
        """Another writer of the run (the ``chunks/`` side table) met a full disk at
        ``at_ns`` (wall ns): the run ended there, the manifest says so with ``failure``'s
        line. The space reserve is given back so that :meth:`close` can still complete the
        parts open now (a full disk then stops this sink too, as in :meth:`write`)."""
        with self._lock:
            if self._failure is not None or self._manifest.cut is not None:
                return
            self._reserve.release()
            self._cut_by = str(failure)
            cut = {"reason": "disk", "problem": problem, "message": self._cut_by, "at_ns": int(at_ns)}
            self._manifest = replace(self._manifest, cut=cut)

    def _fail(self, exc: OSError) -> None:
        """The disk refused a write (full, read-only...): stop (see :meth:`_stop`)."""
        self._stop(disk_problem(exc))

    def _stop(self, problem: str) -> None:
        """Drop the open parts, give back the reserve, record the cut; raise DiskError."""
        for series in self._series.values():
            series.pending, series.pending_rows = [], 0
            if series.open is not None:
                series.open.abort()
                series.open = None
        reserve = getattr(self, "_reserve", None)
        if reserve is not None:
            reserve.release()
        self._failure = DiskError("")
        earlier = self._manifest.cut  # set by cut_by: the run ended then
        self._cut(problem, earlier["at_ns"] if earlier else self._wall_clock())
        self._save_quietly()
        raise self._failure

    def _cut(self, problem: str, at_ns: int) -> None:
        """Say in the manifest and in the (raised) failure where the disk stopped the run,
        with the counts as they stand: a part other workers completed after the stop is
        listed and kept, so :meth:`close` says it again with the final counts."""
        kept, received = self._manifest.rows, self._rows_received
        message = cut_message(problem, self.samples_dir, received, kept)
        if self._cut_by is not None:  # the disk had stopped the chunks first
            message = f"{self._cut_by}; then {message}"
        assert self._failure is not None
        self._failure.args = (message,)  # the same error object the run is unwinding with
        cut = {"reason": "disk", "problem": problem, "message": message,
               "rows_received": received, "rows_kept": kept, "at_ns": at_ns}
        self._manifest = replace(self._manifest, complete=False, cut=cut)

    def _save_quietly(self) -> None:
        try:
            write_manifest(self.samples_dir, self._manifest)
        except OSError:
            pass  # the parts stay the truth; a reader finds them without the manifest
