"""Concurrency over time, from the rows: requests in flight (sent and not yet done) and,
in the closed model, the virtual users active.

In flight at an instant ``t``: rows with ``sent_ns <= t < sent_ns + service_ns``; a row
cut at the stop (sent, never done) stays in flight to the end. It is read on a grid of
``resolution_s`` (10 ms, coarser on runs long enough to need more than
:data:`MAX_GRID` points) from two histograms of send and completion times (no sort),
then summarised per bucket of the run's time series as the mean and the max over the
grid points in the bucket (a spike shorter than the resolution can be missed).

Active users (closed model): the users with a request intended in the bucket.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa

from .arrays import SampleArrays, as_arrays, bincount

__all__ = ["DEFAULT_RESOLUTION_S", "MAX_GRID", "in_flight"]

DEFAULT_RESOLUTION_S = 0.01
MAX_GRID = 200_000


def _grid(bucket_s: float, duration_s: float, resolution_s: float) -> tuple[float, int]:
    """A resolution dividing ``bucket_s`` into whole steps, and steps per bucket."""
    wanted = max(resolution_s, duration_s / MAX_GRID)
    per_bucket = max(1, round(bucket_s / wanted))
    return bucket_s / per_bucket, per_bucket


def _cells(ns: np.ndarray, start_ns: int, step_ns: float, cells: int) -> np.ndarray:
    """How many of ``ns`` fall in each grid cell (before the start: cell 0; after the
    end: not counted)."""
    at = np.floor((ns - start_ns) / step_ns).astype(np.int64)
    np.clip(at, 0, None, out=at)
    return bincount(at[at < cells], minlength=cells)[:cells]


def in_flight(
    data: pa.Table | SampleArrays,
    start_ns: int,
    duration_s: float,
    bucket_s: float = 1.0,
    resolution_s: float = DEFAULT_RESOLUTION_S,
) -> pd.DataFrame:
    """Per bucket (index ``t_s`` as in :func:`~loadray.analysis.per_second`):
    ``in_flight_mean``, ``in_flight_max``, ``width_s`` (the last bucket may be shorter)
    and, when the rows carry users, ``active_users``. Empty frame for an empty run."""
    a = as_arrays(data)
    buckets = max(1, math.ceil(duration_s / bucket_s - 1e-9)) if duration_s > 0 else 0
    index = pd.Index(np.arange(buckets, dtype=np.float64) * bucket_s, name="t_s")
    if a.n == 0 or buckets == 0:
        return pd.DataFrame({"in_flight_mean": [], "in_flight_max": []}, index=index[:0])
    step_s, per_bucket = _grid(bucket_s, duration_s, resolution_s)
    cells = buckets * per_bucket
    step_ns = step_s * 1e9
    sent = a.has_sent_ns
    done = sent & a.has_service
    started = np.cumsum(_cells(a.sent_ns[sent], start_ns, step_ns, cells))
    ended = np.cumsum(_cells(a.sent_ns[done] + a.service_ns[done], start_ns, step_ns, cells))
    level = (started - ended).reshape(buckets, per_bucket)  # in flight at the end of each cell
    last = max(1, math.ceil(duration_s / step_s - 1e-9) - (buckets - 1) * per_bucket)  # cells the last bucket lasted
    level = level.astype(np.float64)
    level[-1, last:] = np.nan
    width = np.full(buckets, bucket_s)
    width[-1] = min(bucket_s, duration_s - (buckets - 1) * bucket_s)
    frame = pd.DataFrame({"in_flight_mean": np.nanmean(level, axis=1), "in_flight_max": np.nanmax(level, axis=1),
                          "width_s": width}, index=index)
    if a.has_user.any():
        frame["active_users"] = _active_users(a, start_ns, bucket_s, buckets)
    return frame


def _active_users(a: SampleArrays, start_ns: int, bucket_s: float, buckets: int) -> np.ndarray:
    rows = a.has_user
    at = np.clip((a.intended_ns[rows] - start_ns) // int(round(bucket_s * 1e9)), 0, buckets - 1)
    users = a.user[rows].astype(np.int64)
    pairs = np.unique(at * (int(users.max()) + 1) + users)
    return bincount(pairs // (int(users.max()) + 1), minlength=buckets)[:buckets]
