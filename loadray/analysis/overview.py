"""Everything the report shows beyond ``summary.json``, folded in the same pass.

Pure: batches in, frames out (the report renders them; nothing here plots).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from .arrays import SampleArrays
from .batch import Registry
from .breakdown import BreakdownFold
from .distribution import DistributionFold
from .error_samples import ErrorWays
from .in_flight import InFlightFold
from .timeseries import TimeFold
from .transfer import StatusSteps

__all__ = ["Overview", "OverviewFold", "overview"]


@dataclass(frozen=True)
class Overview:
    """Frames of one run: ``series`` (:meth:`TimeFold.series`), ``errors``,
    ``worker_rates`` and ``in_flight`` over time (buckets covering ``[0, duration_s]``),
    ``phase_starts``, breakdowns ``steps`` and ``workers``, ``status_steps``
    (:meth:`~loadray.analysis.transfer.StatusSteps.frame`), the ``spectrum`` (latency
    and service), the latency ``histogram`` and ``error_samples``."""

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


class OverviewFold:
    """The folds of an :class:`Overview` (``ways`` may be shared with the summary's)."""

    def __init__(self, start_ns: int, duration_s: float, bucket_s: float = 1.0, ways: ErrorWays | None = None,
                 given_duration: bool = True) -> None:
        self.start_ns, self.duration_s, self.bucket_s = int(start_ns), float(duration_s), float(bucket_s)
        self.time = TimeFold(start_ns, bucket_s, duration_s if given_duration else None)
        self.steps, self.workers = BreakdownFold("step", track=True), BreakdownFold("worker", track=True)
        self.distribution = DistributionFold()
        self.in_flight = InFlightFold(start_ns, duration_s, bucket_s)
        self.status = StatusSteps()
        self.ways = ways or ErrorWays()
        self.own_ways = ways is None
        self.given_duration = given_duration

    def folds(self) -> list:
        found = [self.time, self.steps, self.workers, self.distribution, self.in_flight, self.status]
        return found + ([self.ways] if self.own_ways else [])

    def overview(self, registry: Registry) -> Overview:
        duration = self.duration_s if self.given_duration else None
        return Overview(
            bucket_s=self.time.bucket_s,
            duration_s=self.duration_s,
            series=self.time.series(),
            errors=self.time.error_frame(registry),
            worker_rates=self.time.worker_frame(registry),
            phase_starts=self.time.phase_frame(registry),
            steps=self.steps.frame(registry, duration),
            workers=self.workers.frame(registry, duration),
            spectrum=self.distribution.spectrum(),
            histogram=self.distribution.histogram(),
            in_flight=self.in_flight.frame(),
            status_steps=self.status.frame(registry),
            error_samples=self.ways.samples(registry, self.start_ns),
        )


def _span(source, start_ns: int | None, bucket_s: float) -> tuple[int, float]:
    """The start (default: the first intended send) and the span of the buckets that
    hold every row, for a run without a known duration."""
    intended = source.value_range("intended_ns")
    sent = source.value_range("sent_ns")
    start = int(start_ns) if start_ns is not None else (intended[0] if intended else 0)
    last = max([r[1] for r in (intended, sent) if r] or [start])
    buckets = (last - start) // int(round(bucket_s * 1e9)) + 1 if intended else 0
    return start, float(max(buckets, 0) * bucket_s)


def overview(
    data: pa.Table | SampleArrays, start_ns: int | None, duration_s: float | None, bucket_s: float = 1.0
) -> Overview:
    """The :class:`Overview` of an in-memory table; ``start_ns``/``duration_s`` as in the summary."""
    from .stream import Stream, TableSource

    source = TableSource(data)
    given = bool(duration_s)
    start, span = _span(source, start_ns, bucket_s)
    fold = OverviewFold(start, float(duration_s) if given and duration_s is not None else span, bucket_s, given_duration=given)
    stream = Stream(source)
    stream.run(fold.folds())
    return fold.overview(stream.registry)
