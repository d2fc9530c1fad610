"""Concurrency over time, from the rows: requests in flight (sent and not yet done) and,
in the closed model, the virtual users active.

In flight at an instant ``t``: rows with ``sent_ns <= t < sent_ns + service_ns``; a row
cut at the stop (sent, never done) stays in flight to the end. It is read on a grid of
``resolution_s`` (10 ms, coarser on runs long enough to need more than
:data:`MAX_GRID` points) from two histograms of send and completion times (no sort),
folded batch by batch, then summarised per bucket of the run's time series as the mean
and the max over the grid points in the bucket (a spike shorter than the resolution can
be missed).

Active users (closed model): the users with a request intended in the bucket.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa

from .arrays import SampleArrays
from .batch import Batch
from .tally import add_counts

__all__ = ["DEFAULT_RESOLUTION_S", "MAX_GRID", "InFlightFold", "in_flight"]

DEFAULT_RESOLUTION_S = 0.01
MAX_GRID = 200_000


def _grid(bucket_s: float, duration_s: float, resolution_s: float) -> tuple[float, int]:
    """A resolution dividing ``bucket_s`` into whole steps, and steps per bucket."""
    wanted = max(resolution_s, duration_s / MAX_GRID)
    per_bucket = max(1, round(bucket_s / wanted))
    return bucket_s / per_bucket, per_bucket


class InFlightFold:
    """Send and completion times on the grid, and the users active per bucket."""

    columns = frozenset({"user"})
    side = True  # folded on the side thread (:mod:`.side`)

    def __init__(self, start_ns: int, duration_s: float, bucket_s: float = 1.0,
                 resolution_s: float = DEFAULT_RESOLUTION_S) -> None:
        self.start_ns, self.duration_s, self.bucket_s = int(start_ns), float(duration_s), float(bucket_s)
        self.buckets = max(1, math.ceil(duration_s / bucket_s - 1e-9)) if duration_s > 0 else 0
        self.step_s, self.per_bucket = _grid(bucket_s, duration_s, resolution_s) if self.buckets else (bucket_s, 1)
        self.cells = self.buckets * self.per_bucket
        self.started = np.zeros(self.cells, np.int64)
        self.ended = np.zeros(self.cells, np.int64)
        self.active = np.zeros((self.buckets, 0), bool)  # (bucket, user key)
        self.rows = 0
        self.users = False

    def declare(self, stream) -> None:
        pass

    def require(self, stream) -> None:
        pass

    def warm(self, b: Batch) -> None:
        """The batch's keys :meth:`add` reads (coded on the main thread)."""
        if b.a.has_user.any():
            b.user_keys  # noqa: B018 (a cached property: computed here, read on the side)

    def _count(self, into: np.ndarray, ns: np.ndarray) -> None:
        """Count each of ``ns`` in its grid cell of ``into`` (before the start: cell 0;
        after the end: not counted)."""
        at = np.floor((ns - self.start_ns) / (self.step_s * 1e9)).astype(np.int64)
        np.clip(at, 0, None, out=at)
        add_counts(into, at[at < self.cells])

    def add(self, b: Batch) -> None:
        a = b.a
        self.rows += a.n
        if not self.cells or not a.n:
            return
        sent = a.has_sent_ns
        done = sent & a.has_service
        self._count(self.started, a.sent_ns[sent])
        self._count(self.ended, a.sent_ns[done] + a.service_ns[done])
        if a.has_user.any():
            self.users = True
            rows = a.has_user
            at = np.clip((a.intended_ns[rows] - self.start_ns) // int(round(self.bucket_s * 1e9)), 0, self.buckets - 1)
            keys = b.user_keys[rows]
            if self.active.shape[1] <= int(keys.max()):
                grown = np.zeros((self.buckets, int(keys.max()) + 1), bool)
                grown[:, : self.active.shape[1]] = self.active
                self.active = grown
            self.active[at, keys] = True

    def frame(self) -> pd.DataFrame:
        """Per bucket (index ``t_s`` as in :func:`~loadray.analysis.per_second`):
        ``in_flight_mean``, ``in_flight_max``, ``width_s`` (the last bucket may be shorter)
        and, when the rows carry users, ``active_users``. Empty frame for an empty run."""
        index = pd.Index(np.arange(self.buckets, dtype=np.float64) * self.bucket_s, name="t_s")
        if self.rows == 0 or self.buckets == 0:
            return pd.DataFrame({"in_flight_mean": [], "in_flight_max": []}, index=index[:0])
        level = (np.cumsum(self.started) - np.cumsum(self.ended)).reshape(self.buckets, self.per_bucket)
        last = max(1, math.ceil(self.duration_s / self.step_s - 1e-9) - (self.buckets - 1) * self.per_bucket)
        level = level.astype(np.float64)
        level[-1, last:] = np.nan
        width = np.full(self.buckets, self.bucket_s)
        width[-1] = min(self.bucket_s, self.duration_s - (self.buckets - 1) * self.bucket_s)
        frame = pd.DataFrame({"in_flight_mean": np.nanmean(level, axis=1), "in_flight_max": np.nanmax(level, axis=1),
                              "width_s": width}, index=index)
        if self.users:
            frame["active_users"] = self.active.sum(axis=1)
        return frame


def in_flight(
    data: pa.Table | SampleArrays,
    start_ns: int,
    duration_s: float,
    bucket_s: float = 1.0,
    resolution_s: float = DEFAULT_RESOLUTION_S,
) -> pd.DataFrame:
    """:meth:`InFlightFold.frame` of an in-memory table."""
    from .stream import Stream, TableSource

    fold = InFlightFold(start_ns, duration_s, bucket_s, resolution_s)
    Stream(TableSource(data)).run([fold])
    return fold.frame()
