"""Bytes received (the ``bytes_in`` column: response body bytes) and HTTP status codes,
per step: what k6 calls ``data_received`` and Gatling its response codes per request.

Pure: folded batch by batch (:class:`~.counts.Counts` sums the bytes, :class:`StatusSteps`
counts the codes), plain dicts and frames out. Steps are named as in the summary (a null
step is :data:`~loadray.analysis.arrays.UNNAMED_STEP`), in name order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .arrays import SampleArrays
from .batch import Batch, Registry
from .counts import Counts
from .tally import Tally

__all__ = ["StatusSteps", "bytes_in", "bytes_of", "status_by_step"]


def _rate(total: int, duration_s: float | None) -> float:
    return round(total / duration_s, 3) if duration_s else 0.0


def bytes_of(counts: Counts, registry: Registry, duration_s: float | None) -> dict[str, Any]:
    """``{"total", "per_s", "steps": {step: {"total", "per_s", "per_response"}}}``:
    body bytes received over the run and per step; ``per_response`` is the mean over the
    step's completed requests that got a response (an HTTP status, a gRPC code, or a check
    judged it). {} when the rows lack the column."""
    if not counts.has_bytes:
        return {}
    names = registry.step_labels()
    totals = counts.bytes.sized(len(names))
    responses = counts.responses.sized(len(names))
    rows = counts.step_classes(registry).sum(axis=1)
    steps = {}
    for key in sorted(np.flatnonzero(rows).tolist(), key=lambda k: names[k]):
        total = int(totals[key])
        steps[names[key]] = {
            "total": total,
            "per_s": _rate(total, duration_s),
            "per_response": round(total / responses[key], 1) if responses[key] else None,
        }
    total = int(totals.sum())
    return {"total": total, "per_s": _rate(total, duration_s), "steps": steps}


class StatusSteps:
    """Completed requests per step and HTTP status (0..999), batch by batch."""

    columns: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.cells = Tally(2)

    def declare(self, stream) -> None:
        pass

    def require(self, stream) -> None:
        pass

    def add(self, b: Batch) -> None:
        done = b.a.completed
        self.cells.add(b.step_keys[done], np.clip(b.a.status[done].astype(np.int64), 0, 999))

    def frame(self, registry: Registry) -> pd.DataFrame:
        """Steps (index, by name) x statuses (columns, ascending, as text; ``"0"`` = no
        HTTP response), empty columns left out."""
        names = registry.step_labels()
        counts = self.cells.sized(len(names), 1000)[: len(names), :1000]
        order = sorted(np.flatnonzero(counts.sum(axis=1)).tolist(), key=lambda k: names[k])
        codes = np.flatnonzero(counts.sum(axis=0))
        return pd.DataFrame(counts[np.ix_(order, codes)], index=pd.Index([names[k] for k in order], name="step"),
                            columns=pd.Index([str(c) for c in codes], name="status"))


def bytes_in(data: pa.Table | SampleArrays, duration_s: float | None) -> dict[str, Any]:
    """:func:`bytes_of` an in-memory table."""
    from .stream import Stream, TableSource

    counts = Counts()
    stream = Stream(TableSource(data))
    stream.run([counts])
    return bytes_of(counts, stream.registry, duration_s)


def status_by_step(data: pa.Table | SampleArrays) -> pd.DataFrame:
    """:meth:`StatusSteps.frame` of an in-memory table."""
    from .stream import Stream, TableSource

    fold = StatusSteps()
    stream = Stream(TableSource(data))
    stream.run([fold])
    return fold.frame(stream.registry)
