"""Every sample row of a run, streamed in bounded memory: what the analysis folds.

The readable parts' row groups are the units of reading. They are put in a fixed
*stratified* order: sorted by their first intended send, then taken in bit-reversed
index order, so any prefix of the stream is a sample of the whole run (every stretch
of time, every worker) — the analysis guesses where its percentiles fall from the first
batches and keeps only the values near them (see :mod:`loadray.analysis.ranks`).
Consecutive units are read together into batches of about :data:`BATCH_ROWS` rows; one
thread reads (and Arrow's pool decodes) up to :data:`READ_AHEAD` batches ahead of the
consumer. The order is deterministic: a second pass sees the same batches, and
``batches(columns, stop=k)`` the first ``k`` of them.

Columns a part lacks (written by an older schema) are read as nulls. Footers give each
column's range and null count without reading a row (:meth:`SampleSource.value_range`,
:meth:`SampleSource.all_null`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .fs import RunLocation, locate
from .reader import Part, RunMeta, scan_parts, unified_schema, unreadable
from .rundir import SAMPLES_DIR

__all__ = ["BATCH_ROWS", "READ_AHEAD", "SampleSource", "open_source", "stratified"]

BATCH_ROWS = 1 << 16
READ_AHEAD = 4


@dataclass(frozen=True)
class _Unit:
    part: int  # index into the parts
    group: int  # row group in that part
    rows: int
    first_ns: int | None  # its first intended send (None: no statistics)


def _batches(units: list[_Unit], batch_rows: int) -> list[list[_Unit]]:
    """Consecutive units together, at least ``batch_rows`` rows a batch (but the last)."""
    batches: list[list[_Unit]] = [[]]
    rows = 0
    for unit in units:
        if rows >= batch_rows:
            batches.append([])
            rows = 0
        batches[-1].append(unit)
        rows += unit.rows
    return [b for b in batches if b]


def stratified(n: int) -> list[int]:
    """``0..n-1`` in bit-reversed order (0, n/2, n/4, 3n/4, ...): every prefix spreads
    over the whole range."""
    bits = max(1, (n - 1).bit_length())
    return sorted(range(n), key=lambda i: int(format(i, f"0{bits}b")[::-1], 2))


def _first_ns(md: pq.FileMetaData, group: int, column: int | None) -> int | None:
    if column is None:
        return None
    stats = md.row_group(group).column(column).statistics
    return int(stats.min) if stats is not None and stats.has_min_max else None


def _column_index(md: pq.FileMetaData, name: str) -> int | None:
    names = md.schema.names
    return names.index(name) if name in names else None


class SampleSource:
    """The sample rows of one run as re-iterable batches (see the module docstring)."""

    def __init__(self, loc: RunLocation, parts: Sequence[Part], meta: RunMeta, batch_rows: int = BATCH_ROWS) -> None:
        self.loc, self.parts, self.meta = loc, list(parts), meta
        self.schema = unified_schema(self.parts) if self.parts else None
        self.rows = sum(p.rows for p in self.parts)
        units = self._units()  # in time order
        self.plan = _batches([units[k] for k in stratified(len(units))] if units else [], batch_rows)
        self.timeline = _batches(units, batch_rows)
        known = all(u.first_ns is not None for u in units)
        self._frontiers: list[int | None] = [b[0].first_ns if known else None for b in self.timeline[1:]] + [None]

    def _units(self) -> list[_Unit]:
        """Every row group, by first intended send (then part name and position)."""
        units = []
        for i, p in enumerate(self.parts):
            column = _column_index(p.metadata, "intended_ns")
            for g in range(p.metadata.num_row_groups):
                units.append(_Unit(i, g, p.metadata.row_group(g).num_rows, _first_ns(p.metadata, g, column)))
        return sorted(units, key=lambda u: (u.first_ns if u.first_ns is not None else -1, self.parts[u.part].name,
                                            u.group))

    def __len__(self) -> int:
        return len(self.plan)

    def _stats(self, name: str) -> Iterator[tuple[pq.RowGroupMetaData, int | None]]:
        for p in self.parts:
            column = _column_index(p.metadata, name)
            for g in range(p.metadata.num_row_groups):
                yield p.metadata.row_group(g), column

    def all_null(self, name: str) -> bool:
        """Whether no row has a value in column ``name`` (from the footers)."""
        for group, column in self._stats(name):
            if column is None:
                continue
            stats = group.column(column).statistics
            if stats is None or not stats.has_null_count or stats.null_count < group.num_rows:
                return False
        return True

    def value_range(self, name: str) -> tuple[int, int] | None:
        """Smallest and largest value of an integer column (from the footers); None when
        a row group has values and no statistics, or no row has a value."""
        lo = hi = None
        for group, column in self._stats(name):
            if column is None:
                continue
            stats = group.column(column).statistics
            if stats is not None and stats.has_null_count and stats.null_count == group.num_rows:
                continue
            if stats is None or not stats.has_min_max:
                return None
            lo = int(stats.min) if lo is None else min(lo, int(stats.min))
            hi = int(stats.max) if hi is None else max(hi, int(stats.max))
        return None if lo is None or hi is None else (lo, hi)

    def _read(self, units: list[_Unit], columns: Sequence[str]) -> pa.Table:
        assert self.schema is not None
        want = pa.schema([self.schema.field(c) for c in columns])
        tables = []
        for u in units:
            part = self.parts[u.part]
            have = [c for c in columns if c in part.metadata.schema.names]
            with self.loc.filesystem.open_input_file(part.path) as f:
                pf = pq.ParquetFile(f, metadata=part.metadata, pre_buffer=self.loc.local is None)
                got = pf.read_row_groups([u.group], columns=have, use_threads=True)
            arrays = [got.column(c) if c in have else pa.nulls(got.num_rows, want.field(c).type) for c in columns]
            table = pa.Table.from_arrays(arrays, names=list(columns))
            tables.append(table if table.schema.equals(want) else table.cast(want))
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def _guarded(self, units: list[_Unit], columns: Sequence[str], prepare: Callable[[pa.Table], Any] | None) -> Any:
        try:
            table = self._read(units, columns)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise unreadable(self.loc.shown(SAMPLES_DIR), exc) from None
        return table if prepare is None else prepare(table)

    def batches(self, columns: Sequence[str], stop: int | None = None,
                prepare: Callable[[pa.Table], Any] | None = None) -> Iterator[Any]:
        """The first ``stop`` batches (all by default) with ``columns``, in the plan's order;
        ``prepare`` (if given) turned each into what it returns on the reading thread."""
        return self._read_ahead(self.plan[:stop], columns, prepare)

    def in_time(self, columns: Sequence[str], prepare: Callable[[pa.Table], Any] | None = None,
                stop: int | None = None) -> Iterator[tuple[Any, int | None]]:
        """The rows in time order (row groups by first intended send; the first ``stop``
        batches), each batch with the *frontier*: no row of a later batch was intended
        before it (None: unknown, for the last batch and for parts without statistics)."""
        return zip(self._read_ahead(self.timeline[:stop], columns, prepare), self._frontiers)

    def _read_ahead(self, plan: list[list[_Unit]], columns: Sequence[str],
                    prepare: Callable[[pa.Table], Any] | None) -> Iterator[Any]:
        if not plan:
            return
        pool = ThreadPoolExecutor(1, thread_name_prefix="loadray-read")
        ahead: list[Future] = []
        try:
            for k in range(len(plan)):
                while len(ahead) < READ_AHEAD and k + len(ahead) < len(plan):
                    ahead.append(pool.submit(self._guarded, plan[k + len(ahead)], list(columns), prepare))
                yield ahead.pop(0).result()
        finally:
            for future in ahead:
                future.cancel()
            pool.shutdown(wait=True)


def open_source(run_dir: str | os.PathLike[str] | RunLocation, batch_rows: int = BATCH_ROWS) -> SampleSource:
    """The :class:`SampleSource` of the run at ``run_dir`` (a directory or a URI)."""
    loc = locate(run_dir)
    parts, meta = scan_parts(loc)
    return SampleSource(loc, parts, meta, batch_rows)
