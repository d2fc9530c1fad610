"""Building a worker's per-second report from the rows it just flushed (vectorised:
nothing is added to the per-request path)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loadray.engine.errors import CUT, DROPPED
from loadray.engine.open_loop import Counters
from loadray.live.histogram import LogHistogram
from loadray.live.status import WorkerSecond


def outcomes(batch: pa.RecordBatch) -> dict[str, int]:
    """Counts by status class ("2xx") for responses, by error kind for the rest."""
    status = batch.column("status").to_numpy(zero_copy_only=False)
    out: dict[str, int] = {}
    classes, counts = np.unique(status[status > 0] // 100, return_counts=True)
    for cls, n in zip(classes.tolist(), counts.tolist()):
        out[f"{cls}xx"] = n
    errors = batch.column("error").filter(pc.equal(batch.column("status"), 0))
    for row in pc.value_counts(errors.drop_null()).to_pylist():
        out[row["values"]] = row["counts"]
    return out


def completed_latency(batch: pa.RecordBatch) -> np.ndarray:
    """Corrected latencies of the requests that completed (not dropped, not cut)."""
    error = batch.column("error")
    keep = pc.and_(
        pc.is_valid(batch.column("latency_ns")),
        pc.invert(pc.fill_null(pc.is_in(error.cast(pa.string()), pa.array([DROPPED, CUT])), False)),
    )
    return batch.column("latency_ns").filter(keep).to_numpy()


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
) -> WorkerSecond:
    has_rows = batch is not None and batch.num_rows > 0
    return WorkerSecond(
        worker=worker,
        at_ns=at_ns,
        sent=now.sent - before.sent,
        done=now.done - before.done,
        errors=now.errors - before.errors,
        dropped=now.dropped - before.dropped,
        in_flight=now.in_flight,
        latency=LogHistogram.of(completed_latency(batch)) if has_rows else LogHistogram.empty(),
        outcomes=outcomes(batch) if has_rows else {},
        send_lag_p99_ms=send_lag_p99_ms(batch) if has_rows else 0.0,
        loop_lag_ms=loop_lag_ms,
        cpu_percent=cpu_percent,
        incarnation=incarnation,
    )
