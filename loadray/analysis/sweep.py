"""Exact percentiles of time buckets, from a pass over the rows in time order.

A bucket's rows all lie in the row groups whose time span covers it, so reading the row
groups by first intended send (:meth:`loadray.archive.source.SampleSource.in_time`)
brings each bucket's rows together: once the *frontier* (the first intended send of
every row still unread) has passed a bucket's end, the bucket is complete, its values
are sorted and read, and dropped. Memory holds only the buckets between the frontier and
the latest row read (a few seconds of the run), whatever its length.
"""

from __future__ import annotations

import numpy as np

from .grouped import sort_groups
from .groupings import Bucket
from .percentiles import BREAKDOWN_QUANTILES, ms

__all__ = ["BucketPercentiles"]

_METRICS = ("latency", "service")


class _Held:
    """Rows of a batch not read yet: bucket ``keys`` (``ordered``: ascending) and ``values``."""

    __slots__ = ("first", "keys", "values", "ordered")

    def __init__(self, first: int, keys: np.ndarray, values: np.ndarray, ordered: bool) -> None:
        self.first, self.keys, self.values, self.ordered = first, keys, values, ordered

    def split(self, before: int | None) -> tuple[_Held, _Held | None]:
        """(rows of buckets before ``before`` (None: all), the others or None)."""
        if before is None:
            return self, None
        if self.ordered:  # a cut, no copy
            cut = int(np.searchsorted(self.keys, before))
            rest = None if cut == self.keys.size else _Held(int(self.keys[cut]), self.keys[cut:], self.values[cut:], True)
            return _Held(self.first, self.keys[:cut], self.values[:cut], True), rest
        done = self.keys < before
        if done.all():
            return self, None
        left = self.keys[~done]
        return (_Held(self.first, self.keys[done], self.values[done], False),
                _Held(int(left.min()), left, self.values[~done], False))


class BucketPercentiles:
    """``<metric>_<p>_ms`` and ``<metric>_max_ms`` per bucket of ``bucket``, swept."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self._held: dict[str, list[_Held]] = {m: [] for m in _METRICS}
        self._done: dict[str, dict[int, np.ndarray]] = {m: {} for m in _METRICS}  # bucket -> ms row

    def add(self, a, frontier: int | None, at: np.ndarray | None = None) -> None:
        """A batch's arrays in time order; ``frontier``: no later row was intended before it;
        ``at``: the rows' buckets when already at hand."""
        at = self.bucket.of(a.intended_ns) if at is None else at
        ordered = bool(at.size < 2 or (at[1:] >= at[:-1]).all())  # one worker's row group, in send order
        for metric, rows, values in (("latency", a.has_latency, a.latency_ns), ("service", a.has_service, a.service_ns)):
            if rows.any():
                keys = at[rows]
                self._held[metric].append(_Held(int(keys[0] if ordered else keys.min()), keys, values[rows], ordered))
        if frontier is not None:
            # buckets wholly before the frontier are complete (the last one takes every later row)
            closed = (int(frontier) - self.bucket.start_ns) // self.bucket.bucket_ns
            if self.bucket.count is not None:
                closed = min(closed, self.bucket.count - 1)
            self._close(closed)

    def finish(self) -> None:
        self._close(None)

    def _close(self, before: int | None) -> None:
        for metric in _METRICS:
            ready, held = [], []
            for h in self._held[metric]:
                if before is not None and h.first >= before:
                    held.append(h)
                    continue
                done, rest = h.split(before)
                ready.append(done)
                if rest is not None:
                    held.append(rest)
            self._held[metric] = held
            ready = [r for r in ready if r.keys.size]
            if ready:
                self._read(metric, np.concatenate([r.keys for r in ready]), np.concatenate([r.values for r in ready]))

    def _read(self, metric: str, keys: np.ndarray, values: np.ndarray) -> None:
        """Percentiles of the buckets of ``keys`` (``values``: a fresh array, sorted in place)."""
        lo = int(keys.min())
        groups = int(keys.max()) - lo + 1
        sg = sort_groups(keys - lo, values, groups, own=True)
        table = ms(np.column_stack([sg.percentiles(BREAKDOWN_QUANTILES.values()), sg.max()]))
        for g in np.flatnonzero(sg.counts).tolist():
            self._done[metric][g + lo] = table[g]

    def columns(self, count: int) -> dict[str, np.ndarray]:
        """The percentile columns of buckets ``0..count-1`` (NaN where a bucket has no
        completed row)."""
        out: dict[str, np.ndarray] = {}
        keys = [*BREAKDOWN_QUANTILES, "max"]
        for metric in _METRICS:
            table = np.full((count, len(keys)), np.nan)
            for bucket, row in self._done[metric].items():
                if bucket < count:
                    table[bucket] = row
            out.update({f"{metric}_{key}_ms": table[:, i] for i, key in enumerate(keys)})
        return out
