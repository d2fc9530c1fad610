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

:class:`TimeFold` folds every frame batch by batch (any archive size); the functions
run it over an in-memory table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa

from .arrays import CLASSES, SampleArrays, error_kind, row_class
from .batch import Batch, Registry
from .breakdown import rate_columns
from .groupings import Bucket
from .sweep import BucketPercentiles
from .tally import Tally

__all__ = ["TimeFold", "errors_over_time", "per_second", "phase_starts", "worker_rates"]

_NEVER = np.iinfo(np.int64).max


class TimeFold:
    """Counts per bucket by intended and by sent time, flows started, errors by kind,
    rates per worker, each phase's first send; the per-bucket percentiles from a pass in
    time order (:mod:`.sweep`)."""

    columns = frozenset({"flow_ns"})
    sweep_columns = frozenset({"intended_ns", "latency_ns", "service_ns", "error"})
    side = True  # folded on the side thread (:mod:`.side`)

    def __init__(self, start_ns: int, bucket_s: float = 1.0, duration_s: float | None = None,
                 percentiles: bool = True) -> None:
        if bucket_s <= 0:
            raise ValueError("bucket_s must be > 0")
        self.start_ns, self.bucket_s = int(start_ns), float(bucket_s)
        self.duration_s = float(duration_s) if duration_s is not None and duration_s > 0 else None
        known = max(1, math.ceil(self.duration_s / self.bucket_s - 1e-9)) if self.duration_s else None
        self.bucket = Bucket(self.start_ns, int(round(self.bucket_s * 1e9)), known)
        self.classes, self.workers, self.errors = Tally(2), Tally(2), Tally(2)
        self.sent, self.flow_starts = Tally(), Tally()
        self.phase_first = np.zeros(0, np.int64)
        self.swept = BucketPercentiles(self.bucket) if percentiles else None  # None: counts only
        self.sweeps = percentiles
        self._at: tuple[Batch, np.ndarray] | None = None
        self.rows = 0

    def declare(self, stream) -> None:
        pass

    def require(self, stream) -> None:
        pass

    def warm(self, b: Batch) -> None:
        """The batch's keys :meth:`add` reads (coded on the main thread)."""
        b.value_keys("worker")
        b.value_keys("phase")

    def sweep(self, b: Batch, frontier: int | None) -> None:
        """A batch of the pass in time order (see :mod:`.sweep`); None after the last."""
        if self.swept is not None:
            if b is None:
                self.swept.finish()
            else:
                at = self._at[1] if self._at is not None and self._at[0] is b else None
                self.swept.add(b.a, frontier, at)
        self._at = None

    def add(self, b: Batch) -> None:
        a = b.a
        self.rows += a.n
        at = self.bucket.of(a.intended_ns)
        self._at = (b, at)  # the sweep of the same batch reads it again
        self.classes.add(at, row_class(a).astype(np.int64))
        sent_at = self.bucket.of(a.sent_ns[a.has_sent_ns])
        self.sent.add(sent_at)
        self.workers.add(sent_at, b.value_keys("worker")[a.has_sent_ns])
        has = b.error >= 0
        self.errors.add(at[has], b.error[has].astype(np.int64))
        last = a.has_flow_ns & a.has_latency
        if last.any():
            self.flow_starts.add(self.bucket.of(a.intended_ns[last] + a.latency_ns[last] - a.flow_ns[last]))
        self._phases(b)

    def _phases(self, b: Batch) -> None:
        keys = b.value_keys("phase")
        if keys.size == 0:
            return
        if self.phase_first.size <= int(keys.max()):
            self.phase_first = np.concatenate([self.phase_first, np.full(int(keys.max()) + 1 - self.phase_first.size, _NEVER)])
        for k in np.flatnonzero(np.bincount(keys)).tolist():  # a few phases per batch
            self.phase_first[k] = min(int(self.phase_first[k]), int(b.a.intended_ns[keys == k].min()))

    # -- frames ------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Buckets: those of the duration, else up to the last row's."""
        if self.bucket.count is not None and self.rows:
            return self.bucket.count
        return max(self.classes.table.shape[0], self.sent.table.shape[0])

    def widths(self) -> np.ndarray:
        count = self.count
        width = np.full(count, self.bucket_s)
        if self.bucket.count is not None and count and self.duration_s:
            partial = self.duration_s - (count - 1) * self.bucket_s
            if 1e-9 < partial < self.bucket_s - 1e-9:
                width[-1] = partial
        return width

    def index(self) -> pd.Index:
        return pd.Index(np.arange(self.count, dtype=np.float64) * self.bucket_s, name="t_s")

    def _per_bucket(self, tally: Tally) -> np.ndarray:
        """A 1-D tally over the buckets, later ones folded into the last."""
        values = tally.sized(self.count).copy()
        if values.size > self.count and self.count:
            values[self.count - 1] += values[self.count :].sum()
        return values[: self.count]

    def series(self) -> pd.DataFrame:
        """Counts, rates and exact latency/service percentiles per bucket."""
        n, width = self.count, self.widths()
        counts = self.classes.sized(n, CLASSES)[:n, :CLASSES]
        columns = rate_columns(counts, self._per_bucket(self.sent), self.bucket_s)
        for rate in ("rate", "intended_rate"):
            columns[rate] = columns[rate] * (self.bucket_s / width)
        if self.flow_starts.table.size:
            columns["flow_rate"] = self._per_bucket(self.flow_starts) / width
        columns["width_s"] = width
        if self.swept is not None:
            columns.update(self.swept.columns(n))
        return pd.DataFrame(columns, index=self.index())

    def error_frame(self, registry: Registry) -> pd.DataFrame:
        """Rows with an error per bucket (by intended time), one column per error kind
        (every ``check:<name>`` under ``check``, as in the summary's ``errors_by_kind``)."""
        n, names = self.count, registry.errors.names
        cells = self.errors.sized(n, len(names))[:n, : len(names)]
        kinds: dict[str, int] = {}
        lut = [kinds.setdefault(error_kind(name), len(kinds)) for name in names]
        counts = np.zeros((n, len(kinds)), np.int64)
        for code, kind in enumerate(lut):
            counts[:, kind] += cells[:, code]
        frame = pd.DataFrame(counts, index=self.index(), columns=pd.Index(list(kinds), name="error"))
        return frame.loc[:, frame.sum(axis=0) > 0]

    def worker_frame(self, registry: Registry) -> pd.DataFrame:
        """Requests sent per second by each worker (by sent time), one column per worker."""
        n, workers = self.count, registry.workers.values
        counts = self.workers.sized(n, len(workers))[:n, : len(workers)]
        order = [k for k in np.argsort(workers, kind="stable").tolist() if counts[:, k].sum()]
        rates = counts[:, order] / self.widths()[:, None]
        return pd.DataFrame(rates, index=self.index(), columns=pd.Index([workers[k] for k in order], name="worker"))

    def phase_frame(self, registry: Registry) -> pd.Series:
        """Seconds since the start of every phase's first intended send, by phase."""
        phases = registry.phases.values
        seen = [(phases[k], t) for k, t in enumerate(self.phase_first.tolist()) if t != _NEVER]
        seen.sort()
        index = pd.Index([p for p, _ in seen], name="phase", dtype=np.int64)
        return pd.Series([(t - self.start_ns) / 1e9 for _, t in seen], dtype=np.float64, index=index, name="t_s")


def _run(data: pa.Table | SampleArrays, start_ns: int | None, bucket_s: float,
         duration_s: float | None = None, percentiles: bool = True) -> tuple[TimeFold, Registry]:
    from .stream import Stream, TableSource

    source = TableSource(data)
    if start_ns is None:
        found = source.value_range("intended_ns")
        start_ns = found[0] if found else 0
    fold = TimeFold(start_ns, bucket_s, duration_s, percentiles)
    stream = Stream(source)
    stream.run([fold])
    return fold, stream.registry


def per_second(
    data: pa.Table | SampleArrays, start_ns: int | None = None, bucket_s: float = 1.0, duration_s: float | None = None
) -> pd.DataFrame:
    """:meth:`TimeFold.series`: counts ``intended sent dropped cut completed ok
    errors``, ``success_rate``, ``rate``/``intended_rate`` (per second), ``width_s``,
    ``flow_rate`` (flow instances started per second, when the rows have flows) and
    ``latency_<p>_ms``/``service_<p>_ms`` (p50 p75 p90 p95 p99 p999 p9999 max) per bucket.
    ``start_ns`` defaults to the first intended send; ``duration_s``: see the module docstring."""
    return _run(data, start_ns, bucket_s, duration_s)[0].series()


def errors_over_time(data: pa.Table | SampleArrays, start_ns: int | None = None, bucket_s: float = 1.0) -> pd.DataFrame:
    """:meth:`TimeFold.error_frame`."""
    fold, registry = _run(data, start_ns, bucket_s, percentiles=False)
    return fold.error_frame(registry)


def worker_rates(data: pa.Table | SampleArrays, start_ns: int | None = None, bucket_s: float = 1.0) -> pd.DataFrame:
    """:meth:`TimeFold.worker_frame`."""
    fold, registry = _run(data, start_ns, bucket_s, percentiles=False)
    return fold.worker_frame(registry)


def phase_starts(data: pa.Table | SampleArrays, start_ns: int | None = None) -> pd.Series:
    """:meth:`TimeFold.phase_frame`."""
    fold, registry = _run(data, start_ns, 1.0, percentiles=False)
    return fold.phase_frame(registry)
