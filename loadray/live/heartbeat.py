"""Building a worker's per-second report from the rows it just flushed (vectorised:
nothing is added to the per-request path).

The report carries what the live rules judge, counted like the final summary counts
the same rows: a :class:`~loadray.live.status.Tally` (sent, dropped, cut, errors,
flow instances ended and failed) and latency, service-time and time-to-first-byte
histograms of the completed requests. For each step a live rule is scoped to (and only
those: none, nothing is done), the same figures over that step's rows
(:class:`~loadray.live.status.StepRows`), picked by the ``step`` column's codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loadray.counters import Counters
from loadray.kinds import CUT, NEVER_SENT
from loadray.live.flow_outcomes import FlowOutcomes
from loadray.live.histogram import LogHistogram
from loadray.live.status import StepRows, Tally, WorkerSecond


def outcomes(batch: pa.RecordBatch) -> dict[str, int]:
    """Counts by status class ("2xx") for HTTP responses, by error kind for the rest; a
    gRPC call (status: its code, below 100) that succeeded counts as ``ok``."""
    status = batch.column("status").to_numpy(zero_copy_only=False)
    out: dict[str, int] = {}
    classes, counts = np.unique(status[status >= 100] // 100, return_counts=True)
    for cls, n in zip(classes.tolist(), counts.tolist()):
        out[f"{cls}xx"] = n
    errors = batch.column("error").filter(pc.less(batch.column("status"), 100))
    for row in pc.value_counts(errors.drop_null()).to_pylist():
        out[row["values"]] = row["counts"]
    if errors.null_count:
        out["ok"] = errors.null_count
    return out


def _valued(batch: pa.RecordBatch, column: str, values: tuple[str, ...]) -> np.ndarray:
    """Which rows have one of ``values`` in ``column`` (read on the dictionary's codes)."""
    if column not in batch.schema.names:
        return np.zeros(batch.num_rows, dtype=bool)
    array = batch.column(column)
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    codes = [i for i, name in enumerate(array.dictionary.to_pylist()) if name in values]
    if not codes:
        return np.zeros(batch.num_rows, dtype=bool)
    return np.isin(np.asarray(pc.fill_null(array.indices, -1)), codes)


class Rows:
    """The accounting classes of a batch's rows (the summary's, see
    :mod:`loadray.analysis.arrays`)."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self.batch = batch
        self.never_sent = _valued(batch, "error", NEVER_SENT)
        self.cut = _valued(batch, "error", (CUT,))
        self.completed = ~(self.never_sent | self.cut)
        self.has_error = np.asarray(batch.column("error").is_valid())
        self._times: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # column -> (values, kept)

    def completed_ns(self, column: str, where: np.ndarray | None = None) -> np.ndarray:
        """``column`` of the completed rows that have it (latency_ns, service_ns, ttfb_ns);
        ``where``: of those rows only."""
        if column not in self.batch.schema.names:
            return np.empty(0, np.int64)
        if column not in self._times:  # once per batch, whatever the number of steps
            values = self.batch.column(column)
            self._times[column] = (np.asarray(pc.fill_null(values, 0)), self.completed & np.asarray(values.is_valid()))
        values, keep = self._times[column]
        return values[keep if where is None else keep & where]

    def tally(self, flows: FlowOutcomes) -> Tally:
        ended, failed = flows.ended(self.batch, self.has_error)
        return replace(self.counts(), flows=ended, flows_failed=failed)

    def counts(self, where: np.ndarray | None = None) -> Tally:
        """The rows' classes (all rows, or those of ``where``), without flow instances."""
        pick = (lambda a: a) if where is None else (lambda a: a & where)
        return Tally(
            rows=self.batch.num_rows if where is None else int(where.sum()),
            dropped=int(pick(self.never_sent).sum()),
            cut=int(pick(self.cut).sum()),
            errors=int(pick(self.completed & self.has_error).sum()),
        )

    def step(self, where: np.ndarray) -> StepRows:
        """The figures of the rows of ``where`` (one step's)."""
        if not where.any():
            return StepRows()
        return StepRows(
            latency=LogHistogram.of(self.completed_ns("latency_ns", where)),
            service=LogHistogram.of(self.completed_ns("service_ns", where)),
            ttfb=LogHistogram.of(self.completed_ns("ttfb_ns", where)),
            rows=self.counts(where),
        )


def step_rows(rows: Rows, steps: Sequence[str]) -> dict[str, StepRows]:
    """Each of ``steps`` -> the figures of its rows in the batch (empty when it has none)."""
    return {name: rows.step(_valued(rows.batch, "step", (name,))) for name in steps}


def send_lag_p99_ms(batch: pa.RecordBatch) -> float:
    """p99 of ``sent - intended`` over the first attempts sent (retries wait on purpose)."""
    first_sent = pc.and_(pc.is_valid(batch.column("sent_ns")), pc.equal(batch.column("attempt"), 1))
    sent = batch.column("sent_ns").filter(first_sent).to_numpy()
    if sent.size == 0:
        return 0.0
    intended = batch.column("intended_ns").filter(first_sent).to_numpy()
    return float(np.percentile(sent - intended, 99)) / 1e6


def worker_second(
    worker: int,
    batch: pa.RecordBatch | None,
    now: Counters,
    before: Counters,
    at_ns: int,
    loop_lag_ms: float = 0.0,
    cpu_percent: float = 0.0,
    incarnation: int = 0,
    flows: FlowOutcomes | None = None,
    steps: Sequence[str] = (),
) -> WorkerSecond:
    """One heartbeat. ``flows`` carries a worker's unfinished flow instances from one
    flush to the next (without it each batch is judged on its own); ``steps``: the
    steps live rules are scoped to, whose figures it carries one by one."""
    second = WorkerSecond(
        worker=worker,
        at_ns=at_ns,
        sent=now.sent - before.sent,
        done=now.done - before.done,
        errors=now.errors - before.errors,
        dropped=now.dropped - before.dropped,
        in_flight=now.in_flight,
        loop_lag_ms=loop_lag_ms,
        cpu_percent=cpu_percent,
        incarnation=incarnation,
    )
    if batch is None or batch.num_rows == 0:
        return second
    rows = Rows(batch)
    return replace(
        second,
        latency=LogHistogram.of(rows.completed_ns("latency_ns")),
        service=LogHistogram.of(rows.completed_ns("service_ns")),
        ttfb=LogHistogram.of(rows.completed_ns("ttfb_ns")),
        rows=rows.tally(FlowOutcomes() if flows is None else flows),
        outcomes=outcomes(batch),
        send_lag_p99_ms=send_lag_p99_ms(batch),
        steps=step_rows(rows, steps) if steps else {},
    )
