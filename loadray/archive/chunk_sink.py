"""Writer of the ``chunks/`` side table (:mod:`loadray.stream.table`) into the run
directory: one part series per worker, ``chunks/worker-007-0000.parquet``, each batch
(one worker flush: whole requests) one row group, so a reader taking a row group at a
time always has every chunk of a request together. Parts are written under a hidden
temporary name and renamed once complete (:mod:`.part`): at ``rows_per_file`` rows, once
open as long as a samples part may stay open (5 s, growing to 30 s in long runs: a
driver that dies mid-run leaves the chunks it had before that, as it leaves the
samples), and at :meth:`ChunkSink.close`. The directory exists only when some step
streamed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from loadray.stream.table import CHUNK_SCHEMA, CHUNKS_DIR, is_chunk_batch

from .part import OpenPart, part_name
from .sink import DEFAULT_ROLL_S, roll_after_s

__all__ = ["ChunkSink", "route_chunks"]

DEFAULT_ROWS_PER_FILE = 4_000_000

Write = Callable[[int, pa.RecordBatch], None]


class ChunkSink:
    def __init__(self, run_dir: str | os.PathLike[str], rows_per_file: int = DEFAULT_ROWS_PER_FILE,
                 roll_s: float = DEFAULT_ROLL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = Path(run_dir) / CHUNKS_DIR
        self.rows_per_file, self.roll_s, self._clock = rows_per_file, roll_s, clock
        self._t0 = clock()
        self.rows = 0
        self._open: dict[int, OpenPart] = {}
        self._parts: dict[int, int] = {}
        self._lock = threading.Lock()

    def write(self, worker: int, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        with self._lock:
            part = self._open.get(worker)
            if part is None:
                self.directory.mkdir(parents=True, exist_ok=True)
                number = self._parts[worker] = self._parts.get(worker, -1) + 1
                part = self._open[worker] = OpenPart(self.directory, part_name(worker, number), CHUNK_SCHEMA,
                                                     self._clock())
            part.write(pa.Table.from_batches([batch.cast(CHUNK_SCHEMA)]))
            self.rows += batch.num_rows
            now = self._clock()
            if part.rows >= self.rows_per_file or now - part.opened_at >= roll_after_s(now - self._t0, self.roll_s):
                self._open.pop(worker).finish()

    def close(self) -> None:
        with self._lock:
            for part in self._open.values():
                part.finish()
            self._open.clear()


def route_chunks(samples: Write, chunks: Write) -> Write:
    """One ``write`` for what workers hand out: ``chunks/`` batches to ``chunks``, the
    samples to ``samples``."""

    def write(worker: int, batch: pa.RecordBatch) -> None:
        (chunks if is_chunk_batch(batch) else samples)(worker, batch)

    return write
