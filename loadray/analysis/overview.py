"""Everything the report shows beyond ``summary.json``, folded in one pass over the rows.

Pure: sample arrays in, frames out (the report renders them; nothing here plots).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from .arrays import SampleArrays, as_arrays
from .breakdown import breakdown
from .distribution import histogram, spectrum
from .timeseries import TimeBuckets

__all__ = ["Overview", "overview", "sorted_completed"]


@dataclass(frozen=True)
class Overview:
    """Frames of one run: ``series`` (:meth:`TimeBuckets.series`), ``errors`` and
    ``worker_rates`` over time, ``phase_starts``, breakdowns ``steps`` and ``workers``,
    the ``spectrum`` (latency and service) and the latency ``histogram``."""

    bucket_s: float
    series: pd.DataFrame
    errors: pd.DataFrame
    worker_rates: pd.DataFrame
    phase_starts: pd.Series
    steps: pd.DataFrame
    workers: pd.DataFrame
    spectrum: pd.DataFrame
    histogram: pd.DataFrame


def sorted_completed(a: SampleArrays) -> dict[str, np.ndarray]:
    """Latency and service times (ns) of the completed rows, each sorted ascending
    (cached by ``a``: the summary of the same arrays sorts them only once)."""
    return {"latency": a.completed_latency_ns(), "service": a.completed_service_ns()}


def overview(
    data: "pa.Table | SampleArrays", start_ns: int | None, duration_s: float | None, bucket_s: float = 1.0
) -> Overview:
    """The :class:`Overview` of a run; ``start_ns``/``duration_s`` as in the summary."""
    a = as_arrays(data)
    buckets = TimeBuckets(a, start_ns, bucket_s)
    distribution = sorted_completed(a)
    return Overview(
        bucket_s=buckets.bucket_s,
        series=buckets.series(),
        errors=buckets.errors(),
        worker_rates=buckets.worker_rates(),
        phase_starts=buckets.phase_starts(),
        steps=breakdown(a, "step", duration_s),
        workers=breakdown(a, "worker", duration_s),
        spectrum=spectrum(distribution),
        histogram=histogram(distribution["latency"]),
    )
