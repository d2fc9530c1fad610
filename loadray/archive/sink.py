"""Streaming writer of sample batches into ``<run_dir>/samples/``.

One file series per worker: ``worker-007-0000.parquet``, ``worker-007-0001.parquet``...
(zstd, schema :data:`loadray.schema.SCHEMA`). A part is closed completely when it is
full (on the next write to that worker), so every rolled part stays readable even if
the process dies later; only the parts still open at a crash are lost (with the rows
buffered for the current row group, at most ``row_group_rows`` per worker).

File key-value metadata (every file): ``loadray.schema_version`` and
``loadray.run_start_ns``; the parts open at :meth:`SampleSink.close` also get
``loadray.run_end_ns``. :func:`loadray.archive.reader.read_samples` reads them back.
"""

from __future__ import annotations

import json

import os
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from loadray.errors import ArchiveError
from loadray.schema import SCHEMA

__all__ = [
    "SampleSink",
    "RUN_START_KEY",
    "RUN_END_KEY",
    "DEFAULT_ROWS_PER_FILE",
    "DEFAULT_ROW_GROUP_ROWS",
    "part_name",
]

RUN_START_KEY = "loadray.run_start_ns"
RUN_END_KEY = "loadray.run_end_ns"
RUN_RECORD_KEY = "loadray.run"
DEFAULT_ROWS_PER_FILE = 2_000_000
#: Rows are buffered per worker and written as Parquet row groups of this size (small
#: timer-flushed batches would otherwise become tiny row groups that compress badly).
DEFAULT_ROW_GROUP_ROWS = 131_072
COMPRESSION = "zstd"


def part_name(worker: int, part: int) -> str:
    return f"worker-{worker:03d}-{part:04d}.parquet"


class _Series:
    """The current open part of one worker, and its rows not yet written."""

    __slots__ = ("worker", "part", "writer", "rows", "pending", "pending_rows")

    def __init__(self, worker: int) -> None:
        self.worker = worker
        self.part = -1
        self.writer: pq.ParquetWriter | None = None
        self.rows = 0  # rows of the current part, written or pending
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    def flush(self) -> None:
        if self.pending and self.writer is not None:
            table = self.pending[0] if len(self.pending) == 1 else pa.concat_tables(self.pending)
            self.writer.write_table(table)
        self.pending = []
        self.pending_rows = 0


class SampleSink:
    """Appends Arrow record batches to per-worker Parquet files.

    ``write`` may be called from several threads; it is serialized by a lock.
    Batches whose schema differs from :data:`SCHEMA` only in representation (e.g. plain
    strings instead of dictionaries) are cast; anything else raises ``ArchiveError``.
    """

    def __init__(
        self,
        samples_dir: str | os.PathLike[str],
        run_start_ns: int,
        rows_per_file: int = DEFAULT_ROWS_PER_FILE,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    ) -> None:
        if rows_per_file < 1 or row_group_rows < 1:
            raise ValueError("rows_per_file and row_group_rows must be >= 1")
        self.row_group_rows = int(row_group_rows)
        self.samples_dir = Path(samples_dir)
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.run_start_ns = int(run_start_ns)
        self.rows_per_file = int(rows_per_file)
        self._schema = SCHEMA.with_metadata(
            {**(SCHEMA.metadata or {}), RUN_START_KEY.encode(): str(self.run_start_ns).encode()}
        )
        self._series: dict[int, _Series] = {}
        self._rows_written = 0
        self._files: list[Path] = []
        self._closed = False
        self._lock = threading.Lock()

    # -- public ---------------------------------------------------------------------

    @property
    def rows_written(self) -> int:
        return self._rows_written

    @property
    def files(self) -> list[Path]:
        """Every part opened so far, in creation order."""
        return list(self._files)

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, worker: int, batch: pa.RecordBatch | pa.Table) -> None:
        """Append ``batch`` (rows of ``worker``) to that worker's current part."""
        with self._lock:
            if self._closed:
                raise ArchiveError(f"{self.samples_dir}: sample sink is already closed")
            table = self._conform(batch)
            n = table.num_rows
            if n == 0:
                return
            series = self._series.get(worker)
            if series is None:
                series = self._series[worker] = _Series(int(worker))
            offset = 0
            while offset < n:
                if series.writer is None or series.rows >= self.rows_per_file:
                    self._roll(series)
                take = min(n - offset, self.rows_per_file - series.rows)
                series.pending.append(table.slice(offset, take))
                series.pending_rows += take
                series.rows += take
                offset += take
                self._rows_written += take
                if series.pending_rows >= self.row_group_rows or series.rows >= self.rows_per_file:
                    series.flush()

    def close(self, run_end_ns: int, record: dict | None = None) -> None:
        """Stamp ``run_end_ns`` (and the live run's ``record``: events, lost requests,
        warnings, abort reason, as JSON under ``loadray.run``) on every open part and
        close it. Idempotent.

        If nothing was written at all, one empty part is written so the run's start
        and end times are still on disk.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            end = {RUN_START_KEY: str(self.run_start_ns), RUN_END_KEY: str(int(run_end_ns))}
            if record is not None:
                end[RUN_RECORD_KEY] = json.dumps(record, sort_keys=True)
            if not self._series:
                empty = _Series(0)
                self._open(empty)
                self._series[0] = empty
            errors: list[BaseException] = []
            for series in self._series.values():
                if series.writer is None:
                    continue
                try:
                    series.flush()
                    series.writer.add_key_value_metadata(end)
                    series.writer.close()
                except Exception as exc:  # keep closing the others
                    errors.append(exc)
                series.writer = None
            if errors:
                raise ArchiveError(f"{self.samples_dir}: could not close sample files: {errors[0]}")

    def __enter__(self) -> "SampleSink":
        return self

    def __exit__(self, *exc: object) -> None:
        # Without an explicit close(run_end_ns) the end time is unknown: use "now".
        import time

        self.close(time.time_ns())

    # -- internals --------------------------------------------------------------------

    def _conform(self, batch: pa.RecordBatch | pa.Table) -> pa.Table:
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if table.schema.equals(SCHEMA, check_metadata=False):
            return table.replace_schema_metadata(self._schema.metadata)
        try:
            table = table.select(list(SCHEMA.names)).cast(self._schema)
        except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
            raise ArchiveError(f"{self.samples_dir}: batch does not match the sample schema: {exc}") from None
        return table

    def _open(self, series: _Series) -> None:
        series.part += 1
        path = self.samples_dir / part_name(series.worker, series.part)
        series.writer = pq.ParquetWriter(path, self._schema, compression=COMPRESSION)
        series.rows = 0
        self._files.append(path)

    def _roll(self, series: _Series) -> None:
        if series.writer is not None:
            series.flush()
            series.writer.close()  # a complete, readable file (run_start_ns only)
            series.writer = None
        self._open(series)
