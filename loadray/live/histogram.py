"""A mergeable log-bucketed latency histogram for live statistics.

Bucket ``i`` holds values in ``[GAMMA**i, GAMMA**(i+1))`` ns with ``GAMMA = 1.01``:
every bucket is 1% wide, so a quantile read back from its bucket's geometric middle is
within 0.5% of a value in that bucket. Histograms of workers and seconds merge by
adding counts, which is what the coordinator does every second. Final figures never
come from here: they are exact, from the rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

GAMMA = 1.01
_LOG_GAMMA = math.log(GAMMA)


@dataclass(frozen=True)
class LogHistogram:
    index: np.ndarray  # int32 bucket indexes, sorted, unique
    counts: np.ndarray  # int64, same length
    total_ns: int = 0  # sum of the values (for means and Prometheus' _sum)
    max_ns: int = 0

    @classmethod
    def empty(cls) -> LogHistogram:
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int64))

    @classmethod
    def of(cls, values_ns: np.ndarray) -> LogHistogram:
        values = np.asarray(values_ns, dtype=np.int64)
        if values.size == 0:
            return cls.empty()
        idx = np.floor(np.log(np.maximum(values, 1)) / _LOG_GAMMA).astype(np.int32)
        low = int(idx.min())
        counts = np.bincount(idx - low)  # no sort: the buckets of one batch span a small range
        index = np.flatnonzero(counts)
        return cls((index + low).astype(np.int32), counts[index].astype(np.int64), int(values.sum()), int(values.max()))

    @property
    def count(self) -> int:
        return int(self.counts.sum())

    def merge(self, other: LogHistogram) -> LogHistogram:
        return merge_all((self, other))

    def quantile_ns(self, q: float) -> float | None:
        """Quantile ``q`` (0..1) by the final percentiles' method (linear interpolation
        between the two closest ranks, numpy's default), each rank read at its bucket's
        geometric middle; the top rank is the exact max. None when empty."""
        n = self.count
        if n == 0:
            return None
        h = (n - 1) * min(max(q, 0.0), 1.0)
        low = math.floor(h)
        cumulative = np.cumsum(self.counts)
        value = self._at_rank(low, n, cumulative)
        if h > low:
            value += (h - low) * (self._at_rank(low + 1, n, cumulative) - value)
        return value

    def _at_rank(self, rank: int, n: int, cumulative: np.ndarray) -> float:
        """The value of 0-based ``rank``: its bucket's middle, the exact max at the top."""
        if rank >= n - 1:
            return float(self.max_ns)
        i = int(np.searchsorted(cumulative, rank + 1))
        return min(GAMMA ** (int(self.index[i]) + 0.5), float(self.max_ns))


def merge_all(histograms: Iterable[LogHistogram]) -> LogHistogram:
    hs = [h for h in histograms if h.index.size]
    if not hs:
        return LogHistogram.empty()
    index, inverse = np.unique(np.concatenate([h.index for h in hs]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([h.counts for h in hs]), minlength=index.size)
    return LogHistogram(
        index.astype(np.int32),
        counts.astype(np.int64),
        sum(h.total_ns for h in hs),
        max(h.max_ns for h in hs),
    )
