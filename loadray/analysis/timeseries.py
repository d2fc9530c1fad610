"""Per-second (per-bucket) view of a run, bucketed by *intended* send time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .summary import sample_arrays

__all__ = ["per_second", "COLUMNS"]

COLUMNS = ("intended", "sent", "ok", "errors", "dropped", "cut", "latency_p50_ms", "latency_p99_ms")


def per_second(table: pa.Table, start_ns: int | None, bucket_s: float = 1.0) -> pd.DataFrame:
    """One row per bucket from the run start to the last intended send.

    Index ``t_s``: bucket start in seconds since ``start_ns`` (the first intended send
    when None). Columns: counts ``intended sent ok errors dropped cut`` (by intended
    time, so ``intended`` is the schedule and ``sent`` what the generator achieved), and
    exact ``latency_p50_ms``/``latency_p99_ms`` of the bucket's completed rows (NaN when
    the bucket has none). Empty buckets are present with zero counts.
    """
    if bucket_s <= 0:
        raise ValueError("bucket_s must be > 0")
    a = sample_arrays(table)
    if a.n == 0:
        empty = pd.DataFrame({c: pd.Series(dtype="int64") for c in COLUMNS[:6]})
        for c in COLUMNS[6:]:
            empty[c] = pd.Series(dtype="float64")
        empty.index = pd.Index([], dtype="float64", name="t_s")
        return empty
    if start_ns is None:
        start_ns = int(a.intended_ns.min())
    bucket_ns = int(round(bucket_s * 1e9))
    b = (a.intended_ns - int(start_ns)) // bucket_ns
    np.clip(b, 0, None, out=b)
    nb = int(b.max()) + 1

    def count(mask: np.ndarray | None) -> np.ndarray:
        return np.bincount(b if mask is None else b[mask], minlength=nb)

    data = {
        "intended": count(None),
        "sent": count(a.sent),
        "ok": count(a.ok),
        "errors": count(a.error),
        "dropped": count(a.dropped),
        "cut": count(a.cut),
    }

    p50 = np.full(nb, np.nan)
    p99 = np.full(nb, np.nan)
    lb = b[a.has_latency]
    lat = a.latency_ns[a.has_latency]
    if lat.size:
        # Group by bucket with one stable sort (rows are nearly in time order already),
        # then exact numpy percentiles per bucket.
        if nb < np.iinfo(np.int16).max:
            lb = lb.astype(np.int16)  # numpy's stable sort is a radix sort for int16
        order = np.argsort(lb, kind="stable")
        lat = lat[order]  # our own copy, grouped by bucket
        del order
        bounds = np.concatenate(([0], np.cumsum(np.bincount(lb, minlength=nb))))
        for k in range(nb):
            s, e = bounds[k], bounds[k + 1]
            if e > s:
                # disjoint slices of our copy: partition in place
                v50, v99 = np.percentile(lat[s:e], [50.0, 99.0], overwrite_input=True)
                p50[k] = v50 / 1e6
                p99[k] = v99 / 1e6
    data["latency_p50_ms"] = np.round(p50, 3)
    data["latency_p99_ms"] = np.round(p99, 3)

    index = pd.Index(np.arange(nb, dtype=np.float64) * bucket_s, name="t_s")
    return pd.DataFrame(data, index=index)
