"""Per-step figures for Prometheus, folded from the row batches the driver archives.

The driver writes every batch of rows a worker hands over to the archive; the same
batches folded here give ``/metrics`` the report's own numbers: the same rows, the same
accounting (:mod:`loadray.analysis.arrays`: ``ok``, error kinds, ``dropped``/``fenced``
never sent, ``cut`` in flight at the stop), latency over the completed rows, exact
counts. Once every row is in (after the run settles), the counters equal ``summary.json``.

Latency buckets: :data:`LATENCY_BUCKETS_S`, a fixed log grid from 50 µs to 60 s whose
bounds grow by 2% (rounded to 4 significant digits), the same at every scrape so
``rate()`` over any window sees one ``le`` set. ``histogram_quantile`` interpolates
linearly inside a bucket, so its error is at most the bucket's width (2%) and, on any
smooth distribution, a small fraction of it.

Steps: the first ``max_steps`` step names seen get a label of their own, later ones are
counted under :data:`OTHER_STEP` (bounded cardinality on scenarios with many steps).
Pure: batches in, immutable :class:`StepFigures` out (no clock, no I/O, no lock).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from loadray.analysis.arrays import UNNAMED_STEP, error_kind, sample_arrays

__all__ = [
    "DEFAULT_MAX_STEPS",
    "LATENCY_BUCKETS_S",
    "LATENCY_GROWTH",
    "OK",
    "OTHER_STEP",
    "StepFigures",
    "StepTally",
    "latency_grid",
]

LATENCY_GROWTH = 1.02
LATENCY_MIN_S = 50e-6
LATENCY_MAX_S = 60.0
DEFAULT_MAX_STEPS = 10
OTHER_STEP = "other"
OK = "ok"


def latency_grid(lo_s: float = LATENCY_MIN_S, hi_s: float = LATENCY_MAX_S, growth: float = LATENCY_GROWTH) -> tuple[float, ...]:
    """Bucket upper bounds in seconds: ``lo_s * growth**i`` up to ``hi_s``, 4 significant digits."""
    n = math.ceil(math.log(hi_s / lo_s) / math.log(growth))
    return tuple(sorted({float(f"{lo_s * growth**i:.4g}") for i in range(n + 1)}))


LATENCY_BUCKETS_S = latency_grid()
_BOUNDS_NS = np.array(LATENCY_BUCKETS_S) * 1e9
_SLOTS = len(LATENCY_BUCKETS_S) + 1  # the last slot: above the grid (only in +Inf)


@dataclass(frozen=True)
class StepFigures:
    """What one step label has seen so far."""

    step: str
    outcomes: Mapping[str, int] = field(default_factory=dict)  # "ok" or error kind -> rows
    codes: Mapping[int, int] = field(default_factory=dict)  # HTTP status -> completed rows with a response
    buckets: tuple[int, ...] = (0,) * _SLOTS  # completed rows per latency slot (not cumulative)
    latency_sum_s: float = 0.0
    bytes_in: int = 0

    def cumulative(self) -> list[int]:
        """Counts at or below each bound of :data:`LATENCY_BUCKETS_S`, then the total (+Inf)."""
        return np.cumsum(self.buckets).tolist()


class _Step:
    def __init__(self) -> None:
        self.outcomes: dict[str, int] = {}
        self.codes: dict[int, int] = {}
        self.buckets = np.zeros(_SLOTS, np.int64)
        self.latency_sum_ns = 0
        self.bytes_in = 0


class StepTally:
    """Accumulates row batches into per-step figures (see the module docstring)."""

    def __init__(self, max_steps: int = DEFAULT_MAX_STEPS) -> None:
        if max_steps < 1:
            raise ValueError("max_steps must be >= 1")
        self.max_steps = max_steps
        self._labels: dict[str, int] = {}  # step name -> label index
        self._steps: list[tuple[str, _Step]] = []

    def _label(self, step: str) -> int:
        if step not in self._labels:
            named = sum(1 for name, _ in self._steps if name != OTHER_STEP)
            name = step if named < self.max_steps and step != OTHER_STEP else OTHER_STEP
            existing = [i for i, (n, _) in enumerate(self._steps) if n == name]
            if existing:
                self._labels[step] = existing[0]
            else:
                self._labels[step] = len(self._steps)
                self._steps.append((name, _Step()))
        return self._labels[step]

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        if table.num_rows == 0:
            return
        a = sample_arrays(table)
        codes = a.step_codes.astype(np.int64) + 1  # 0: no step name
        names = [UNNAMED_STEP, *a.step_names]
        labels = np.zeros(len(names), np.int64)
        for code in np.unique(codes).tolist():  # only the steps these rows have get a label
            labels[code] = self._label(names[code])
        keys = labels[codes]
        self._outcomes(keys, a.error_codes, a.error_names)
        self._latency(keys[a.has_latency], a.latency_ns[a.has_latency])
        with_status = a.completed & (a.status > 0)
        self._codes(keys[with_status], a.status[with_status])
        if "bytes_in" in table.column_names:
            got = table.column("bytes_in").to_numpy(zero_copy_only=False)
            self._bytes(keys, np.nan_to_num(got.astype(np.float64)))

    def _outcomes(self, keys: np.ndarray, codes: np.ndarray, names: list[str]) -> None:
        kinds = [OK, *(error_kind(n) for n in names)]
        pairs, counts = np.unique(keys * len(kinds) + codes.astype(np.int64) + 1, return_counts=True)
        for pair, n in zip(pairs.tolist(), counts.tolist()):
            step, kind = divmod(pair, len(kinds))
            got = self._steps[step][1].outcomes
            got[kinds[kind]] = got.get(kinds[kind], 0) + n

    def _latency(self, keys: np.ndarray, latency_ns: np.ndarray) -> None:
        slots = np.searchsorted(_BOUNDS_NS, latency_ns, side="left")  # le: value <= bound
        n = len(self._steps)
        counts = np.bincount(keys * _SLOTS + slots, minlength=n * _SLOTS).reshape(n, _SLOTS)
        sums = np.bincount(keys, weights=latency_ns.astype(np.float64), minlength=n)
        for i in np.flatnonzero(counts.sum(axis=1)).tolist():
            step = self._steps[i][1]
            step.buckets += counts[i]
            step.latency_sum_ns += int(sums[i])

    def _codes(self, keys: np.ndarray, status: np.ndarray) -> None:
        pairs, counts = np.unique(keys * 1000 + np.clip(status, 0, 999), return_counts=True)
        for pair, n in zip(pairs.tolist(), counts.tolist()):
            step, code = divmod(pair, 1000)
            got = self._steps[step][1].codes
            got[code] = got.get(code, 0) + n

    def _bytes(self, keys: np.ndarray, nbytes: np.ndarray) -> None:
        sums = np.bincount(keys, weights=nbytes, minlength=len(self._steps))
        for i in np.flatnonzero(sums).tolist():
            self._steps[i][1].bytes_in += int(sums[i])

    def figures(self) -> tuple[StepFigures, ...]:
        """An immutable copy of every step label's figures, in first-seen order."""
        return tuple(
            StepFigures(name, dict(s.outcomes), dict(sorted(s.codes.items())), tuple(s.buckets.tolist()),
                        s.latency_sum_ns / 1e9, s.bytes_in)
            for name, s in self._steps
        )
