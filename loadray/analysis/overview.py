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
from .error_samples import error_samples
from .in_flight import in_flight
from .timeseries import TimeBuckets
from .transfer import status_by_step

__all__ = ["Overview", "overview", "sorted_completed"]


@dataclass(frozen=True)
class Overview:
    """Frames of one run: ``series`` (:meth:`TimeBuckets.series`), ``errors``,
    ``worker_rates`` and ``in_flight`` over time (buckets covering ``[0, duration_s]``),
    ``phase_starts``, breakdowns ``steps`` and ``workers``, ``status_steps``
    (:func:`~loadray.analysis.transfer.status_by_step`), the ``spectrum`` (latency and
    service), the latency ``histogram`` and ``error_samples``."""

    bucket_s: float
    duration_s: float
    series: pd.DataFrame
    errors: pd.DataFrame
    worker_rates: pd.DataFrame
    phase_starts: pd.Series
    steps: pd.DataFrame
    workers: pd.DataFrame
    spectrum: pd.DataFrame
    histogram: pd.DataFrame
    in_flight: pd.DataFrame
    status_steps: pd.DataFrame
    error_samples: list


def sorted_completed(a: SampleArrays) -> dict[str, np.ndarray]:
    """Latency and service times (ns) of the completed rows, each sorted ascending
    (cached by ``a``: the summary of the same arrays sorts them only once)."""
    return {"latency": a.completed_latency_ns(), "service": a.completed_service_ns()}


def overview(
    data: pa.Table | SampleArrays, start_ns: int | None, duration_s: float | None, bucket_s: float = 1.0
) -> Overview:
    """The :class:`Overview` of a run; ``start_ns``/``duration_s`` as in the summary."""
    a = as_arrays(data)
    buckets = TimeBuckets(a, start_ns, bucket_s, duration_s)
    distribution = sorted_completed(a)
    duration = float(duration_s) if duration_s else float(buckets.width.sum())
    return Overview(
        bucket_s=buckets.bucket_s,
        duration_s=duration,
        series=buckets.series(),
        errors=buckets.errors(),
        worker_rates=buckets.worker_rates(),
        phase_starts=buckets.phase_starts(),
        steps=breakdown(a, "step", duration_s),
        workers=breakdown(a, "worker", duration_s),
        spectrum=spectrum(distribution),
        histogram=histogram(distribution["latency"]),
        in_flight=in_flight(a, buckets.start_ns, duration, bucket_s),
        status_steps=status_by_step(a),
        error_samples=error_samples(a, buckets.start_ns),
    )
