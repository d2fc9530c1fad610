"""Exact order statistics of values streamed in batches, in bounded memory.

A :class:`Ranked` holds values (int64 ns) grouped by a small-int key (a step, a phase, a
time bucket, a (step, phase) pair...). While the rows stream by it keeps a histogram per
group on :class:`~.bins.LogBins` (a bin is 0.012% wide at 13 bits). The ``r``-th smallest
value of a group is in the bin where the group's running count passes ``r``: only the
values of that one *cell* (group, bin) are needed, sorted, to read it exactly.

A family is read through :class:`~.rank_view.View`\\ s: groupings of its keys (the
(step, phase) family is read per step, per phase and as a whole: one histogram update
per row serves the three). The values of a view's cells come from:

- the **store**: with ``track`` quantiles given, the family keeps, as the rows go by, every
  value that falls in a cell near where those quantiles are heading. The first rows
  are all kept; :meth:`Ranked.refresh` (called as the row count doubles) re-estimates
  each tracked quantile of each view group from the histogram so far and keeps the cells
  within 5 standard errors of it in rank, widened by twice how far the previous estimate
  moved (the rows come in a stratified order, see :mod:`loadray.archive.source`: each
  prefix samples the whole run); cells that leave that window are dropped. A cell that
  joined the window while empty, or was in it from the start, is *complete*;
- a **second pass** otherwise (:meth:`~.rank_view.View.pending` / ``collect``): only the
  batches before the cell joined the store (all of them for a cell never kept) are read
  again, and only that cell's values are kept.

Either way the result is the exact value: percentiles are numpy's ``linear`` method
computed from it (:mod:`.percentiles`), bit for bit. Memory: the histograms (``groups x
bins``), the store (about ``sqrt(rows)`` values per tracked quantile) and the cells asked
for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from .bins import LogBins
from .rank_view import IDENTITY, View
from .tally import add_counts, exact_sums

__all__ = ["DEFAULT_WARMUP_ROWS", "IDENTITY", "Ranked"]

DEFAULT_WARMUP_ROWS = 1 << 20


class Ranked:
    """Values grouped by key, histogrammed; exact ranks through its views."""

    def __init__(self, bins: LogBins, track: Iterable[float] = (), *, sums: bool = False,
                 views: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
                 bound: int | None = None) -> None:
        self.bins, self.nb = bins, bins.size
        self.bound = bound  # a known bound of |values| (their column's statistics), or None
        qs = [float(q) for q in track]
        self.track = np.array(sorted({0.0, 1.0, *qs})) if qs else None
        self.hist = np.zeros((0, self.nb), np.int64)
        self.sums: np.ndarray | None = np.zeros(0, object) if sums else None
        self.batches = 0  # batches added so far
        self.warm = self.track is not None  # storing every value until the first refresh
        self._cand = np.zeros((0, self.nb), bool)  # cells the store keeps (any view wants them)
        self.store: list[tuple[int, np.ndarray, np.ndarray]] = []  # (batch, family cells, values)
        luts = {IDENTITY: lambda keys: keys, **(views or {})}
        self.views = {name: View(self, name, lut) for name, lut in luts.items()}

    def view(self, name: str = IDENTITY) -> View:
        return self.views[name]

    def track_also(self, qs: Iterable[float], view: str | None = None) -> None:
        """Track these quantiles too (before the first batch): in every view, or only in
        view ``view`` (the spectrum's hundred quantiles of the run as a whole need not be
        kept for every step and phase: the store holds the cells near each one)."""
        extra = {float(q) for q in qs}
        if not extra:
            return
        known = set() if self.track is None else set(self.track.tolist())
        if view is None:
            self.track = np.array(sorted({0.0, 1.0, *known, *extra}))
        else:
            self.track = np.array(sorted({0.0, 1.0, *known}))
            self.views[view].also |= extra
        self.warm = True
        self._cand[:] = True

    @property
    def groups(self) -> int:
        return self.hist.shape[0]

    def grow(self, groups: int) -> None:
        """Room for keys ``0..groups-1``: the new ones are kept as their views' windows say
        (the whole of a view group not seen before)."""
        extra = groups - self.groups
        if extra <= 0:
            return
        self.hist = np.vstack([self.hist, np.zeros((extra, self.nb), np.int64)])
        self._cand = np.vstack([self._cand, np.zeros((extra, self.nb), bool)])
        if self.sums is not None:
            self.sums = np.concatenate([self.sums, np.array([0] * extra, object)])
        self._cand[-extra:] = self._wanted(np.arange(groups - extra, groups))

    def _wanted(self, keys: np.ndarray) -> np.ndarray:
        """Which cells of family keys ``keys`` some view keeps."""
        if self.track is None:
            return np.zeros((keys.size, self.nb), bool)
        if self.warm:
            return np.ones((keys.size, self.nb), bool)
        wanted = np.zeros((keys.size, self.nb), bool)
        for view in self.views.values():
            wanted |= view.kept(keys)
        return wanted

    def add(self, keys: np.ndarray | None, values: np.ndarray, bins: np.ndarray | None = None) -> None:
        """One batch: ``values`` (int64) of groups ``keys`` (None: all group 0);
        ``bins``: their :meth:`LogBins.of`, when already at hand."""
        bins = self.bins.of(values) if bins is None else bins
        if keys is None:
            cells = bins
            if values.size:
                self.grow(1)
                add_counts(self.hist[0], bins)
                if self.sums is not None:
                    self.sums[0] += int(values.sum())
        elif keys.size and keys[0] == keys.min() == keys.max():  # one group (a worker's row group)
            key = int(keys[0])
            self.grow(key + 1)
            cells = bins + key * self.nb
            self.hist[key] += np.bincount(bins, minlength=self.nb)
            if self.sums is not None:
                self.sums[key] += exact_sums(np.zeros(keys.size, np.int64), values, 1, self.bound)[0]
        else:
            keys = keys.astype(np.int64, copy=False)
            if keys.size:
                self.grow(int(keys.max()) + 1)
            cells = keys * self.nb
            cells += bins
            add_counts(self.hist.reshape(-1), cells)
            if self.sums is not None and keys.size:
                self.sums += np.array(exact_sums(keys, values, self.groups, self.bound), dtype=object)
        if self.track is not None:
            hit = self._cand.reshape(-1)[cells]
            if hit.any():
                self.store.append((self.batches, cells[hit], values[hit]))
        self.batches += 1

    def refresh(self) -> None:
        """Re-aim the store at the tracked quantiles of every view (module docstring)."""
        if self.track is None:
            return
        for view in self.views.values():
            view.refresh(view.tracked(self.track))
        self.warm = False
        self._cand = self._wanted(np.arange(self.groups))
        kept = []
        for batch, cells, values in self.store:
            keep = self._cand.reshape(-1)[cells]
            if keep.any():
                kept.append((batch, cells[keep], values[keep]))
        self.store = kept
