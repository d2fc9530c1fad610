"""One worker incarnation's series of Parquet parts, written by the worker itself
straight to the run's storage (a local directory or a storage URI, see :mod:`.fs`).

Batches come in with the sequence number the worker's outbox gave them; a batch is
never split between parts, so when a part completes every batch up to its last
sequence number is durable: that is the worker's acknowledgement (the rows may leave
its outbox). Parts roll like the driver's (:mod:`.sink`): at ``rows_per_file`` rows or
after :func:`~.sink.roll_after_s`; rows are written as row groups of ``row_group_rows``.

Names: ``worker-007-0000.parquet`` for the first incarnation (today's layout),
``worker-007-r1-0000.parquet`` for a restart's. Each part's footer says whose rows it
holds (``loadray.worker``, ``loadray.incarnation``), how many arrivals
(``loadray.arrivals``) and its first and last sequence numbers (``loadray.first_seq``,
``loadray.seq``): the driver finds a part it was never told of (its worker died just
after writing it) from that, and tells it from an upload the worker gave up on (a store
that did not answer) that landed all the same once the store answered again, whose
batches a later part holds too (:func:`.ledger.unlisted_parts`).
No part is completed once the driver closed the run (see :mod:`.fence`).

The ``chunks/`` side table of streamed steps (:mod:`loadray.stream.table`) comes in the
same stream of batches: its batches go to the open part's companion,
``chunks/<the part's name>`` (one row group per batch, so every chunk of a request is in
one row group, as the driver's :mod:`.chunk_sink` writes them), completed just before
the samples part and dropped with it; a reader counts a companion only when its samples
part is in the run (:mod:`.chunk_source`), so one left by a part that failed after it
(its rows are written again in a later part) is never counted twice (and the driver
deletes it when it closes the run: :func:`.ledger.drop_orphan_chunks`). On an object
store a part (samples or chunks) is also completed once its encoded bytes reach
:data:`~.store_part.STORE_PART_BYTES`: one PutObject, nothing left behind by a failed
upload (see :mod:`.store_part`).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from loadray.schema import SCHEMA
from loadray.stream.table import CHUNK_SCHEMA, CHUNKS_DIR, is_chunk_batch

from .fence import RunClosed, is_closed
from .fs import RunLocation
from .part import OpenPart
from .rundir import SAMPLES_DIR
from .sink import DEFAULT_ROLL_S, DEFAULT_ROW_GROUP_ROWS, DEFAULT_ROWS_PER_FILE, RUN_START_KEY, roll_after_s
from .store_part import STORE_PART_BYTES, StorePart, ensure_dir, ensure_samples_dir, open_part

__all__ = ["ARRIVALS_KEY", "CHUNK_ROWS_PER_FILE", "FIRST_SEQ_KEY", "INCARNATION_KEY", "SEQ_KEY", "WORKER_KEY", "PartSeries",
           "WrittenPart", "not_written_again", "series_part_name", "series_part_number", "written_part"]
_SERIES_NAME = re.compile(r"^worker-(\d+)(?:-r(\d+))?-(\d+)\.parquet$")

WORKER_KEY = "loadray.worker"
INCARNATION_KEY = "loadray.incarnation"
ARRIVALS_KEY = "loadray.arrivals"
SEQ_KEY = "loadray.seq"
FIRST_SEQ_KEY = "loadray.first_seq"
#: A part completes once its ``chunks/`` companion holds this many rows (as the driver's).
CHUNK_ROWS_PER_FILE = 4_000_000


def series_part_name(worker: int, incarnation: int, part: int) -> str:
    restart = f"-r{incarnation}" if incarnation else ""
    return f"worker-{worker:03d}{restart}-{part:04d}.parquet"


def series_part_number(name: str) -> tuple[int, int, int] | None:
    """``(worker, incarnation, part)`` of a name :func:`series_part_name` made, else None."""
    found = _SERIES_NAME.match(name)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2) or 0), int(found.group(3))


@dataclass(frozen=True)
class WrittenPart:
    """A complete part: its name in ``samples/``, whose rows, how many, up to which batch
    (and the rows of its ``chunks/`` companion, 0 without one; from which batch, 0 when
    not known: a part written before the footer said it)."""

    file: str
    worker: int
    incarnation: int
    rows: int
    arrivals: int
    last_seq: int
    chunk_rows: int = 0
    first_seq: int = 0


def written_part(name: str, footer: pq.FileMetaData) -> WrittenPart | None:
    """The part a worker wrote, from its footer; None for one it did not (the driver's)."""
    kv = {k.decode(): v.decode() for k, v in (footer.metadata or {}).items()}
    if WORKER_KEY not in kv:
        return None
    return WrittenPart(name, int(kv[WORKER_KEY]), int(kv.get(INCARNATION_KEY, 0)), footer.num_rows,
                       int(kv.get(ARRIVALS_KEY, footer.num_rows)), int(kv.get(SEQ_KEY, 0)),
                       first_seq=int(kv.get(FIRST_SEQ_KEY, 0)))


def not_written_again(found: list[WrittenPart], listed: set[str]) -> list[WrittenPart]:
    """The parts of ``found`` (unlisted) whose batches are in no other part.

    A worker writes a part whose upload failed again (its rows stay in its outbox) under
    the next name, from the same first batch. An upload it gave up on because the store
    did not answer may land all the same once the store answers again: its batches are
    then in two parts. A worker reports its complete parts in order, so an unlisted part
    numbered below a listed one of the same incarnation is such an upload; among the
    unlisted ones, a part whose batches (``first_seq``..``last_seq``) overlap a part
    kept already (the later-ending first) is one too. Parts that do not say their first
    batch (written before the footer did) are all kept, as before."""
    newest: dict[tuple[int, int], int] = {}
    for key in filter(None, map(series_part_number, listed)):
        newest[key[:2]] = max(newest.get(key[:2], -1), key[2])
    kept: list[WrittenPart] = []
    spans: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for part in sorted(found, key=lambda p: (p.last_seq, p.file), reverse=True):
        number, taken = series_part_number(part.file), spans.setdefault((part.worker, part.incarnation), [])
        if number is not None and number[2] < newest.get(number[:2], -1):
            continue
        if part.first_seq and any(part.first_seq <= last and first <= part.last_seq for first, last in taken):
            continue
        if part.first_seq:
            taken.append((part.first_seq, part.last_seq))
        kept.append(part)
    return sorted(kept, key=lambda p: p.file)


class PartSeries:
    """Appends batches to the open part; returns the parts each call completed."""

    def __init__(self, loc: RunLocation, worker: int, incarnation: int, run_start_ns: int, *,
                 rows_per_file: int = DEFAULT_ROWS_PER_FILE, row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
                 roll_s: float = DEFAULT_ROLL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.loc, self.worker, self.incarnation = loc, int(worker), int(incarnation)
        self.rows_per_file, self.row_group_rows, self.roll_s = rows_per_file, row_group_rows, roll_s
        self._clock = clock
        self._t0 = clock()
        self.schema = SCHEMA.with_metadata({**(SCHEMA.metadata or {}), RUN_START_KEY.encode(): str(run_start_ns).encode()})
        self._next = 0  # number of the next part (never reused, also after a failed one)
        self._open: OpenPart | StorePart | None = None
        self._chunks: OpenPart | StorePart | None = None  # the open part's chunks/ companion
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._arrivals = 0
        self._last_seq = 0
        self._first_seq = 0  # the open part's first batch
        self._run_closed = False  # the driver closed the run: nothing more is written
        ensure_samples_dir(loc)

    @property
    def open_rows(self) -> int:
        """Rows of the open part (written or pending): not durable yet."""
        return (self._open.rows if self._open is not None else 0) + self._pending_rows

    def append(self, batch: pa.RecordBatch | pa.Table, arrivals: int, seq: int) -> list[WrittenPart]:
        if self._run_closed:
            raise RunClosed(f"{self.loc.shown(SAMPLES_DIR)}: the run was closed; no part joins it now")
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if self._open is None:
            self._open = open_part(self.loc, self._name(), self.schema, self._clock())
            self._first_seq = seq
        if is_chunk_batch(table):
            self._append_chunks(table)
        else:
            if not table.schema.equals(self.schema, check_metadata=False):
                table = table.select(list(SCHEMA.names)).cast(self.schema)
            self._pending.append(table)
            self._pending_rows += table.num_rows
            self._arrivals += arrivals
        self._last_seq = seq
        if self._pending_rows >= self.row_group_rows:
            self._write_pending()
        return [self._finish()] if self._full() else []

    def _append_chunks(self, table: pa.Table) -> None:
        """One batch of the chunks/ side table: one row group of the open part's companion."""
        if self._chunks is None:
            assert self._open is not None
            ensure_dir(self.loc, CHUNKS_DIR)
            self._chunks = open_part(self.loc, self._open.name, CHUNK_SCHEMA, self._open.opened_at, CHUNKS_DIR)
        self._chunks.write(table.cast(CHUNK_SCHEMA))

    def _full(self) -> bool:
        """The open part is to complete now: enough rows, or (on an object store) bytes."""
        chunk_rows = self._chunks.rows if self._chunks is not None else 0
        if self.open_rows >= self.rows_per_file or chunk_rows >= CHUNK_ROWS_PER_FILE:
            return True
        return sum(p.nbytes for p in (self._open, self._chunks) if isinstance(p, StorePart)) >= STORE_PART_BYTES

    def roll_due(self) -> list[WrittenPart]:
        """Complete the open part if it has been open long enough."""
        now = self._clock()
        if self._open is not None and now - self._open.opened_at >= roll_after_s(now - self._t0, self.roll_s):
            return [self._finish()]
        return []

    def close(self) -> list[WrittenPart]:
        """Complete the open part (if any)."""
        return [self._finish()] if self._open is not None else []

    def abort(self) -> None:
        """Drop the open part and its rows (they stay in the worker's outbox); a part
        whose upload may have completed all the same is deleted (best effort), its
        chunks/ companion too."""
        (part, self._open), (chunks, self._chunks) = (self._open, None), (self._chunks, None)
        self._pending, self._pending_rows, self._arrivals = [], 0, 0
        for directory, dropped in ((SAMPLES_DIR, part), (CHUNKS_DIR, chunks)):
            if dropped is not None:
                dropped.abort()
                with contextlib.suppress(Exception):
                    self.loc.filesystem.delete_file(self.loc.path(directory, dropped.name))

    def _name(self) -> str:
        self._next += 1
        return series_part_name(self.worker, self.incarnation, self._next - 1)

    def _write_pending(self) -> None:
        if self._pending and self._open is not None:
            self._open.write(self._pending[0] if len(self._pending) == 1 else pa.concat_tables(self._pending))
        self._pending, self._pending_rows = [], 0

    def _finish(self) -> WrittenPart:
        self._write_pending()
        part = self._open
        assert part is not None
        if is_closed(self.loc):  # the driver listed the run's parts for the last time (see .fence)
            self._run_closed = True
            raise RunClosed(f"{self.loc.shown(SAMPLES_DIR, part.name)}: the run was closed before this part "
                            "completed; it is not part of the run (its rows count as unknown)")
        footer = {WORKER_KEY: str(self.worker), INCARNATION_KEY: str(self.incarnation),
                  ARRIVALS_KEY: str(self._arrivals), SEQ_KEY: str(self._last_seq), FIRST_SEQ_KEY: str(self._first_seq)}
        chunks = self._chunks
        if chunks is not None:  # first: a samples part in the run always has its chunks
            chunks.finish({WORKER_KEY: footer[WORKER_KEY], INCARNATION_KEY: footer[INCARNATION_KEY]})
        part.finish(footer)
        self._open = self._chunks = None
        done = WrittenPart(part.name, self.worker, self.incarnation, part.rows, self._arrivals, self._last_seq,
                           chunks.rows if chunks is not None else 0, self._first_seq)
        self._arrivals = 0
        return done
