"""The shape of a latency distribution: its percentile spectrum and a histogram.

:func:`spectrum` and :func:`histogram` take values already sorted ascending;
:class:`DistributionFold` gives the same frames from the run-wide latency and service
families of a stream (exact, in bounded memory: only the cells of the percentiles and of
the histogram's edges are read).

The spectrum follows HdrHistogram's percentile distribution: percentiles spaced evenly
on a log ``1/(1-q)`` axis (``per_decade`` points per factor of ten: 90%, 99%, 99.9%...
are on it) from the minimum (q = 0) to the last q with ``1/(1-q) <= n``, plus p25, p50,
p75 and the maximum (percentile 100, placed at ``inv_tail = n``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .groupings import ALL, Grouping
from .percentiles import linear_interpolate, linear_ranks, ms, sorted_percentiles
from .rank_view import View

#: The run as one group, in a latency family of its own: its bins are as fine as one
#: group allows, so the values kept near the spectrum's hundred percentiles stay few
#: (the summary's latency family is by (step, phase), on coarser bins).
SPECTRUM = Grouping("spectrum", ALL.columns, ALL.keys, ALL.labels, 1)

__all__ = ["DEFAULT_BINS", "DEFAULT_PER_DECADE", "DistributionFold", "histogram", "spectrum", "spectrum_percentiles"]

DEFAULT_PER_DECADE = 20
DEFAULT_BINS = 60
_MIN_EDGE_NS = 1_000.0  # 1 µs: the log axis needs a positive left edge


def spectrum_percentiles(n: int, per_decade: int = DEFAULT_PER_DECADE) -> np.ndarray:
    """The percentiles (0..100) of the spectrum of ``n`` values, ascending, 100 last."""
    if n <= 0:
        return np.empty(0)
    decades = np.log10(n) if n > 1 else 0.0
    steps = np.arange(int(np.floor(decades * per_decade + 1e-9)) + 1)
    tails = 10.0 ** (-steps / per_decade)  # 1 - q
    pct = np.round(100.0 * (1.0 - tails), 10)
    return np.unique(np.concatenate((pct, [25.0, 50.0, 75.0, 100.0])))


def _spectrum_frame(pct: np.ndarray, n: int, rows: Mapping[str, np.ndarray]) -> pd.DataFrame:
    with np.errstate(divide="ignore"):
        inv_tail = np.where(pct < 100.0, 1.0 / (1.0 - pct / 100.0), float(n))
    columns = {"inv_tail": inv_tail, **{f"{name}_ms": ms(row) for name, row in rows.items()}}
    return pd.DataFrame(columns, index=pd.Index(pct, name="percentile"))


def spectrum(sorted_ns: Mapping[str, np.ndarray], per_decade: int = DEFAULT_PER_DECADE) -> pd.DataFrame:
    """One row per spectrum percentile: ``inv_tail`` = 1/(1-q) and ``<name>_ms`` for
    every named sorted array (e.g. ``{"latency": ..., "service": ...}``), indexed by
    ``percentile``. Arrays of different lengths share the grid of the longest."""
    n = max((v.size for v in sorted_ns.values()), default=0)
    pct = spectrum_percentiles(n, per_decade)
    rows = {name: sorted_percentiles(values, np.zeros(1, np.int64), np.array([values.size]), pct)[0]
            for name, values in sorted_ns.items()}
    return _spectrum_frame(pct, n, rows)


def _edges(first: float, last: float, bins: int) -> np.ndarray:
    lo = max(float(first), _MIN_EDGE_NS)
    hi = max(float(last), lo * 1.001)
    edges = np.geomspace(lo, hi, bins + 1)
    edges[-1] = np.nextafter(hi, np.inf)  # the maximum falls in the last bin
    return edges


def _histogram_frame(edges: np.ndarray, below: np.ndarray, n: int) -> pd.DataFrame:
    below[0] = 0  # values under the first edge (< 1 µs) count in the first bin
    return pd.DataFrame({"lo_ms": edges[:-1] / 1e6, "hi_ms": edges[1:] / 1e6, "count": np.diff(below),
                         "cdf": below[1:] / n})


def _empty_histogram() -> pd.DataFrame:
    return pd.DataFrame({"lo_ms": [], "hi_ms": [], "count": pd.Series([], dtype=np.int64), "cdf": []})


def histogram(sorted_ns: np.ndarray, bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """Counts in ``bins`` log-spaced bins from the minimum to the maximum, and the
    CDF (fraction of values <= the bin's upper edge). Columns ``lo_ms hi_ms count cdf``."""
    if sorted_ns.size == 0:
        return _empty_histogram()
    edges = _edges(sorted_ns[0], sorted_ns[-1], bins)
    return _histogram_frame(edges, np.searchsorted(sorted_ns, edges, side="left"), sorted_ns.size)


def _ends(fam: View) -> tuple[int, int] | None:
    n = int(fam.counts()[0]) if fam.groups else 0
    if not n:
        return None
    first, last = fam.values(np.zeros(2, np.int64), np.array([0, n - 1]))
    return int(first), int(last)


class DistributionFold:
    """The spectrum (latency and service) and the latency histogram of a stream, from
    its run-wide families: percentile ranks first, then the histogram's edges (they
    depend on the minimum and the maximum)."""

    columns: frozenset[str] = frozenset()

    def __init__(self, per_decade: int = DEFAULT_PER_DECADE, bins: int = DEFAULT_BINS) -> None:
        self.per_decade, self.bins = per_decade, bins
        self.families: dict[str, View] = {}
        self._edges: np.ndarray | None = None
        self._guess: tuple[int, int] | None = None  # the latency range the edges were drawn from
        self._below: np.ndarray | None = None  # completed rows under each edge, counted as they go

    def declare(self, stream) -> None:
        """Track the spectrum's percentiles (of as many values as the source has rows: a
        superset of the final grid), and draw the histogram's edges from the latency
        column's statistics, when it has them, to count the rows under them as they go."""
        track = spectrum_percentiles(max(stream.source.rows, 1), self.per_decade) / 100
        self.families = {m: stream.family(m, SPECTRUM if m == "latency" else ALL, track)
                         for m in ("latency", "service")}
        self._guess = stream.source.value_range("latency_ns")
        if self._guess is not None:
            self._edges = _edges(self._guess[0], self._guess[1], self.bins)
            self._below = np.zeros(self._edges.size, np.int64)
            fam = self.families["latency"].fam
            self._edge_bins = fam.bins.of(np.ceil(self._edges).astype(np.int64))
            self._in_edge_bin = np.zeros(fam.nb, bool)
            self._in_edge_bin[self._edge_bins] = True
            self._bins_key = ("latency", fam.bins.bits, fam.bins.base, fam.bins.size)

    def add(self, b) -> None:
        """Rows under each edge within the edge's own bin (the bins below it come from
        the histogram at the end)."""
        if self._below is None or self._edges is None:
            return
        lat = b.a.latency_ns[b.a.has_latency]
        bins = b.__dict__.get("_bins", {}).get(self._bins_key)
        if bins is None:
            bins = self.families["latency"].fam.bins.of(lat)
        near = self._in_edge_bin[bins]
        if near.any():
            values, where = lat[near], bins[near]
            for i, (edge, bin_) in enumerate(zip(np.ceil(self._edges).tolist(), self._edge_bins.tolist())):
                self._below[i] += int(np.count_nonzero((where == bin_) & (values < edge)))

    def _n(self) -> int:
        return max((int(f.counts()[0]) for f in self.families.values() if f.groups), default=0)

    def require(self, stream) -> None:
        pct = spectrum_percentiles(self._n(), self.per_decade)
        for fam in self.families.values():
            n = int(fam.counts()[0]) if fam.groups else 0
            if n and pct.size:
                lo, hi, _ = linear_ranks(np.array([n]), pct)
                fam.require(np.zeros(lo.size * 2, np.int64), np.concatenate([lo.ravel(), hi.ravel()]))
                fam.require(np.zeros(2, np.int64), np.array([0, n - 1]))

    def ready(self, stream) -> bool:
        """Whether the minimum and maximum latency are at hand (the histogram's edges)."""
        fam = self.families["latency"]
        n = int(fam.counts()[0]) if fam.groups else 0
        return not n or fam.ready(np.zeros(2, np.int64), np.array([0, n - 1]))

    def require_more(self, stream) -> None:
        """The histogram's edges, once the minimum and maximum are known: those of the
        statistics when they are right (the counts are then at hand), else cells to read."""
        ends = _ends(self.families["latency"])
        if ends is not None and ends != self._guess:
            self._edges, self._below = _edges(*ends, self.bins), None
            self.families["latency"].require_below(np.zeros(self._edges.size, np.int64), np.ceil(self._edges))
        elif ends is None:
            self._edges = None

    def spectrum(self) -> pd.DataFrame:
        n = self._n()
        pct = spectrum_percentiles(n, self.per_decade)
        rows = {}
        for name, fam in self.families.items():
            count = int(fam.counts()[0]) if fam.groups else 0
            row = np.full(pct.size, np.nan)
            if count and pct.size:
                lo, hi, gamma = linear_ranks(np.array([count]), pct)
                zero = np.zeros_like(lo)
                row = linear_interpolate(fam.values(zero, lo), fam.values(zero, hi), gamma)[0]
            rows[name] = row
        return _spectrum_frame(pct, n, rows)

    def histogram(self) -> pd.DataFrame:
        fam = self.families["latency"]
        if self._edges is None:
            return _empty_histogram()
        n = int(fam.counts()[0])
        if self._below is not None:  # the bins below each edge's, and the rows counted in it
            cum = np.concatenate([[0], np.cumsum(fam.hist()[0])])
            below = cum[self._edge_bins] + self._below
        else:
            below = fam.below(np.zeros(self._edges.size, np.int64), np.ceil(self._edges).astype(np.int64))
        return _histogram_frame(self._edges, below, n)
