"""Flow instances that ended in a worker's flushed rows, and whether each failed —
by the rule of :mod:`loadray.analysis.flows`, across flushes.

An instance ends on the row that carries ``flow_ns``. It failed when one of its rows
has an error that no retry of the same step followed (``attempt + 1``); a row with
``flow_ns`` and no ``flow_id`` is an instance of its own, failed when it has an error.
An instance's rows may span flushes (a failed attempt in one batch, its retry or the
instance's end in the next), so the unresolved failures of instances still running
are carried from one batch to the next: at most one entry per failing instance in
flight, dropped when the instance ends.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Attempt = tuple[str, int]  # (step, attempt)


def _ints(batch: pa.RecordBatch, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Values (0 where null) and validity of an integer column."""
    column = batch.column(name)
    valid = np.asarray(column.is_valid())
    return np.asarray(pc.fill_null(column, 0)), valid


class FlowOutcomes:
    def __init__(self) -> None:
        self.pending: dict[int, set[Attempt]] = {}  # flow_id -> failed attempts not retried yet

    def ended(self, batch: pa.RecordBatch, failed_row: np.ndarray) -> tuple[int, int]:
        """Flow instances that ended in ``batch`` and how many of them failed;
        ``failed_row``: which rows have an error (any kind)."""
        if batch.column("flow_id").null_count == batch.num_rows:  # the fast path: no instances
            if batch.column("flow_ns").null_count == batch.num_rows:
                return 0, 0
            has_end = np.asarray(batch.column("flow_ns").is_valid())
            return int(has_end.sum()), int((has_end & failed_row).sum())
        flow_id, has_id = _ints(batch, "flow_id")
        has_end = np.asarray(batch.column("flow_ns").is_valid())
        attempt = np.asarray(batch.column("attempt"))
        self._follow(batch, flow_id, attempt, has_id & failed_row, has_id & (attempt > 1))
        ends = has_end & has_id
        ended_ids = flow_id[ends].tolist()
        failed = sum(1 for f in ended_ids if self.pending.pop(f, None)) if self.pending else 0
        alone = has_end & ~has_id
        return len(ended_ids) + int(alone.sum()), failed + int((alone & failed_row).sum())

    def _follow(self, batch: pa.RecordBatch, flow_id: np.ndarray, attempt: np.ndarray,
                failed: np.ndarray, retries: np.ndarray) -> None:
        """Add the batch's failed attempts, then drop those a retry followed (in this
        batch or a later one: a retry is recorded after the attempt it retries)."""
        rows = np.flatnonzero(failed | retries)
        if rows.size == 0:
            return
        steps = batch.column("step").take(pa.array(rows)).cast(pa.string()).to_pylist()
        ids, attempts = flow_id[rows].tolist(), attempt[rows].tolist()
        is_failed = failed[rows].tolist()
        for f, step, a, bad in zip(ids, steps, attempts, is_failed):
            if bad:
                self.pending.setdefault(f, set()).add((step, a))
        for f, step, a in zip(ids, steps, attempts):
            if a > 1 and f in self.pending:
                self.pending[f].discard((step, a - 1))
                if not self.pending[f]:
                    del self.pending[f]
