"""A run over time, in buckets of ``bucket_s`` seconds (default 1 s) from the run start.

Which clock a row is counted at:

- by **intended** send time: ``intended`` (the schedule), ``dropped``, ``cut``,
  ``completed``, ``ok``, ``errors`` and the latency/service percentiles (a stall shows
  at the time the affected requests were due, as in wrk2 and HdrHistogram);
- by **sent** time (``sent_ns``): ``sent`` and ``rate`` (what the generator achieved).

Every frame is indexed by ``t_s``, the bucket start in seconds since the start, with
empty buckets present (zero counts, NaN percentiles). Given the run's ``duration_s``, the
buckets cover ``[0, duration_s]`` (a request intended or sent after the end, such as a
later step of a flow that started just before it, counts in the last one)
and a last partial bucket (a 12.3 s run's ``[12, 12.3)``) has ``width_s`` 0.3: its rates
are counted over those 0.3 s, so the end of a run does not show as a dip. Without it
every bucket is ``bucket_s`` wide.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa

from .arrays import SampleArrays, as_arrays, bincount, class_counts, error_kind
from .breakdown import percentile_columns, rate_columns

__all__ = ["TimeBuckets", "errors_over_time", "per_second", "phase_starts", "worker_rates"]


class TimeBuckets:
    """The bucket of every row by intended time and (for sent rows) by sent time."""

    def __init__(
        self,
        data: pa.Table | SampleArrays,
        start_ns: int | None = None,
        bucket_s: float = 1.0,
        duration_s: float | None = None,
    ) -> None:
        if bucket_s <= 0:
            raise ValueError("bucket_s must be > 0")
        a = self.arrays = as_arrays(data)
        self.bucket_s = float(bucket_s)
        self.start_ns = int(start_ns) if start_ns is not None else (int(a.intended_ns.min()) if a.n else 0)
        self.intended = self._bucket(a.intended_ns)
        self.sent = self._bucket(a.sent_ns[a.has_sent_ns])
        self.count = max((int(b.max()) + 1 for b in (self.intended, self.sent) if b.size), default=0)
        self.width = np.full(self.count, self.bucket_s)
        if duration_s is not None and duration_s > 0 and a.n:
            self._cover(float(duration_s))
        self.index = pd.Index(np.arange(self.count, dtype=np.float64) * self.bucket_s, name="t_s")

    def _cover(self, duration_s: float) -> None:
        """Buckets from 0 to ``duration_s``: sends after the end in the last one, the
        last bucket as wide as the part of it the run lasted."""
        self.count = max(1, math.ceil(duration_s / self.bucket_s - 1e-9))
        for when in (self.intended, self.sent):
            np.clip(when, None, self.count - 1, out=when)
        self.width = np.full(self.count, self.bucket_s)
        partial = duration_s - (self.count - 1) * self.bucket_s
        if 1e-9 < partial < self.bucket_s - 1e-9:
            self.width[-1] = partial

    def _bucket(self, ns: np.ndarray) -> np.ndarray:
        b = ns - self.start_ns
        b //= int(round(self.bucket_s * 1e9))
        np.clip(b, 0, None, out=b)  # rows before the start belong to the first bucket
        return b.astype(np.int32) if b.size and int(b.max()) < 2**31 else b

    def series(self) -> pd.DataFrame:
        """Counts, rates and exact latency/service percentiles per bucket."""
        a, n = self.arrays, self.count
        counts = class_counts(a, self.intended, n)
        columns = rate_columns(counts, bincount(self.sent, minlength=n)[:n], self.bucket_s)
        for rate in ("rate", "intended_rate"):
            columns[rate] = columns[rate] * (self.bucket_s / self.width)
        if a.has_flow_ns.any():
            columns["flow_rate"] = self._flow_starts() / self.width
        columns["width_s"] = self.width
        columns.update(percentile_columns(a, self.intended, n))
        return pd.DataFrame(columns, index=self.index)

    def _flow_starts(self) -> np.ndarray:
        """Flow instances per bucket by their intended start (their last row's end minus
        ``flow_ns``); instances cut at the stop have no ``flow_ns`` and are not counted."""
        a = self.arrays
        last = a.has_flow_ns & a.has_latency
        starts = self._bucket(a.intended_ns[last] + a.latency_ns[last] - a.flow_ns[last])
        np.clip(starts, None, self.count - 1, out=starts)
        return bincount(starts, minlength=self.count)[: self.count]

    def errors(self) -> pd.DataFrame:
        """Rows with an error per bucket (by intended time), one column per error kind
        (every ``check:<name>`` under ``check``, as in the summary's ``errors_by_kind``)."""
        a = self.arrays
        has = a.error_codes >= 0
        index: dict[str, int] = {}
        lut = np.array([index.setdefault(error_kind(name), len(index)) for name in a.error_names], np.int64)
        kinds = len(index)
        cells = self.intended[has].astype(np.int64) * kinds + lut[a.error_codes[has]]
        counts = bincount(cells, minlength=self.count * kinds)[: self.count * kinds].reshape(self.count, kinds)
        frame = pd.DataFrame(counts, index=self.index, columns=pd.Index(list(index), name="error"))
        return frame.loc[:, frame.sum(axis=0) > 0]

    def worker_rates(self) -> pd.DataFrame:
        """Requests sent per second by each worker (by sent time), one column per worker."""
        a = self.arrays
        workers = a.worker[a.has_sent_ns]
        lo = int(workers.min()) if workers.size else 0
        width = int(workers.max()) - lo + 1 if workers.size else 0
        cells = self.sent.astype(np.int64) * width + (workers - lo)
        counts = bincount(cells, minlength=self.count * width)[: self.count * width].reshape(self.count, width)
        frame = pd.DataFrame(counts / self.width[:, None], index=self.index, columns=pd.Index(range(lo, lo + width), name="worker"))
        return frame.loc[:, counts.sum(axis=0) > 0]

    def phase_starts(self) -> pd.Series:
        """Seconds since the start of every phase's first intended send, by phase."""
        a = self.arrays
        if a.n == 0:
            return pd.Series([], dtype=np.float64, index=pd.Index([], name="phase"), name="t_s")
        lo = int(a.phase.min())
        first = np.full(int(a.phase.max()) - lo + 1, np.iinfo(np.int64).max)
        np.minimum.at(first, a.phase - lo, a.intended_ns)
        present = first < np.iinfo(np.int64).max
        t_s = (first[present] - self.start_ns) / 1e9
        return pd.Series(t_s, index=pd.Index(np.flatnonzero(present) + lo, name="phase"), name="t_s")


def per_second(
    data: pa.Table | SampleArrays, start_ns: int | None = None, bucket_s: float = 1.0, duration_s: float | None = None
) -> pd.DataFrame:
    """:meth:`TimeBuckets.series`: counts ``intended sent dropped cut completed ok
    errors``, ``success_rate``, ``rate``/``intended_rate`` (per second), ``width_s``,
    ``flow_rate`` (flow instances started per second, when the rows have flows) and
    ``latency_<p>_ms``/``service_<p>_ms`` (p50 p75 p90 p95 p99 p999 p9999 max) per bucket.
    ``start_ns`` defaults to the first intended send; ``duration_s``: see the module docstring."""
    return TimeBuckets(data, start_ns, bucket_s, duration_s).series()


def errors_over_time(data: pa.Table | SampleArrays, start_ns: int | None = None, bucket_s: float = 1.0) -> pd.DataFrame:
    """:meth:`TimeBuckets.errors`."""
    return TimeBuckets(data, start_ns, bucket_s).errors()


def worker_rates(data: pa.Table | SampleArrays, start_ns: int | None = None, bucket_s: float = 1.0) -> pd.DataFrame:
    """:meth:`TimeBuckets.worker_rates`."""
    return TimeBuckets(data, start_ns, bucket_s).worker_rates()


def phase_starts(data: pa.Table | SampleArrays, start_ns: int | None = None) -> pd.Series:
    """:meth:`TimeBuckets.phase_starts`."""
    return TimeBuckets(data, start_ns).phase_starts()

