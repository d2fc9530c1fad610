"""One grouping of a :class:`~.ranks.Ranked` family's keys, and the exact answers for it.

A view maps the family's keys to its own groups (``lut``: the (step, phase) pair -> the
step). It decides which of its cells the store keeps (:meth:`View.refresh`), which cells
a second pass must read (:meth:`View.pending`), and reads ranks from the cells' sorted
values (:meth:`View.values`, :meth:`View.below`). See :mod:`.ranks`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .grouped import SortedGroups, sort_groups

if TYPE_CHECKING:
    from .ranks import Ranked

__all__ = ["IDENTITY", "View", "Z_SCORE"]

IDENTITY = "groups"  # the view of a family's own keys

Z_SCORE = 5.0  # window half-width in standard errors of the estimated rank
_NEVER = np.iinfo(np.int32).max  # a cell's values must be read from every batch
_DENSE = 1 << 24  # cells below this are looked up in a table rather than searched


class View:
    """Groups ``lut(family keys)`` of family ``fam`` (see the module docstring)."""

    def __init__(self, fam: Ranked, name: str, lut: Callable[[np.ndarray], np.ndarray]) -> None:
        self.fam, self.name, self.lut = fam, name, lut
        self.nb = fam.nb
        self._cand: np.ndarray = np.zeros((0, self.nb), bool)  # cells kept by the store for this view
        self._since: np.ndarray = np.zeros((0, self.nb), np.int32)  # first batch the store has of a cell
        self.also: frozenset[float] = frozenset()  # quantiles tracked in this view only
        self._aim: dict[int, np.ndarray] = {}  # group -> bin of each tracked quantile, last refresh
        self._pending: dict[int, int] = {}  # cell -> batches to read again (up to, exclusive)
        self._done: set[int] = set()  # cells read again already
        self._asked: set[int] = set()  # cells the answers read
        self._found: list[tuple[np.ndarray, np.ndarray]] = []
        self._whole: set[int] = set()  # cells read whole by a second pass (the store's part not used)
        self._pool: tuple[np.ndarray, SortedGroups] | None = None
        self._hist: tuple[tuple[int, int], np.ndarray] | None = None

    def keys(self, family_keys: np.ndarray) -> np.ndarray:
        return np.asarray(self.lut(np.asarray(family_keys, np.int64)), np.int64)

    def hist(self) -> np.ndarray:
        """(groups, bins) counts of this view."""
        fam = self.fam
        if self.name == IDENTITY:
            return fam.hist
        version = (fam.batches, fam.groups)
        if self._hist is None or self._hist[0] != version:
            keys = self.keys(np.arange(fam.groups))
            summed = np.zeros((int(keys.max()) + 1 if keys.size else 0, self.nb), np.int64)
            if keys.size:  # rows of the same view group summed (np.add.at is many times slower)
                order = np.argsort(keys, kind="stable")
                ordered = keys[order]
                starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
                summed[ordered[starts]] = np.add.reduceat(fam.hist[order], starts, axis=0)
            self._hist = (version, summed)
        return self._hist[1]

    @property
    def groups(self) -> int:
        return self.hist().shape[0]

    def counts(self) -> np.ndarray:
        """Values per group."""
        return self.hist().sum(axis=1)

    def total(self, g: int) -> int:
        """Exact sum of group ``g``'s values (the family has ``sums=True``)."""
        assert self.fam.sums is not None
        if self.name == IDENTITY:
            return int(self.fam.sums[g]) if g < self.fam.sums.size else 0
        keys = self.keys(np.arange(self.fam.groups))
        return int(sum(int(v) for v in self.fam.sums[keys == g].tolist()))

    # -- the store ------------------------------------------------------------------------

    def kept(self, family_keys: np.ndarray) -> np.ndarray:
        """(keys, bins): the cells of those family keys this view keeps (all of a group
        it has not sized yet: nothing of it was seen at the last refresh)."""
        groups = self.keys(family_keys)
        out = np.ones((groups.size, self.nb), bool)
        known = groups < self._cand.shape[0]
        out[known] = self._cand[groups[known]]
        return out

    def tracked(self, track: np.ndarray) -> np.ndarray:
        """The family's tracked quantiles and this view's own."""
        return track if not self.also else np.array(sorted({*track.tolist(), *self.also}))

    def refresh(self, track: np.ndarray) -> None:
        hist = self.hist()
        wanted = np.zeros(hist.shape, bool)
        for g in range(hist.shape[0]):
            wanted[g] = self._window(hist[g], g, track) if hist[g].any() else True
        before = np.ones(hist.shape, bool)  # a group sized now was kept whole
        before[: self._cand.shape[0]] = self._cand
        since = np.zeros(hist.shape, np.int32)
        since[: self._since.shape[0]] = self._since
        entering = wanted & ~before
        since[entering] = self.fam.batches
        since[entering & (hist == 0)] = 0  # empty so far: complete from the start
        self._cand, self._since = wanted, since

    def _window(self, counts: np.ndarray, g: int, q: np.ndarray) -> np.ndarray:
        """Cells within ``Z_SCORE`` standard errors of each tracked quantile's rank, plus
        twice how far the previous estimate turned out to be (a drift not seen yet)."""
        cum = np.cumsum(counts)
        n = int(cum[-1])
        spread = Z_SCORE * np.sqrt(q * (1 - q) / n)
        aimed = self._aim.get(g)
        if aimed is not None:
            spread += 2 * np.abs(cum[aimed] / n - q)
        self._aim[g] = np.searchsorted(cum, np.floor(q * (n - 1)), side="right")
        lo = np.floor(np.clip(q - spread, 0, 1) * (n - 1)).astype(np.int64)
        hi = np.ceil(np.clip(q + spread, 0, 1) * (n - 1)).astype(np.int64)
        first = np.searchsorted(cum, lo, side="right")
        last = np.searchsorted(cum, hi, side="right")
        last[q >= 1.0] = self.nb - 1
        first[q <= 0.0] = 0
        row = np.bincount(first, minlength=self.nb + 1) - np.bincount(last + 1, minlength=self.nb + 1)
        return np.cumsum(row[:-1]) > 0

    # -- what is asked for ----------------------------------------------------------------

    def _cells(self, groups: np.ndarray, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cell holding each (group, rank) and the rank inside that cell."""
        hist = self.hist()
        groups = np.asarray(groups, np.int64).ravel()
        ranks = np.asarray(ranks, np.int64).ravel()
        cells = np.empty(groups.size, np.int64)
        inside = np.empty(groups.size, np.int64)
        for g in np.unique(groups).tolist():
            at = groups == g
            cum = np.cumsum(hist[g])
            b = np.searchsorted(cum, ranks[at], side="right")
            cells[at] = g * self.nb + b
            inside[at] = ranks[at] - np.where(b > 0, cum[np.maximum(b - 1, 0)], 0)
        return cells, inside

    def _below_cells(self, groups: np.ndarray, values: np.ndarray) -> np.ndarray:
        bins = self.fam.bins.of(np.asarray(values, np.int64).ravel())
        return np.asarray(groups, np.int64).ravel() * self.nb + bins

    def require(self, groups: np.ndarray, ranks: np.ndarray) -> None:
        """Ranks that :meth:`values` will be asked for (every rank < the group's count)."""
        self._need(self._cells(groups, ranks)[0])

    def require_below(self, groups: np.ndarray, values: np.ndarray) -> None:
        """Values that :meth:`below` will be asked about."""
        self._need(self._below_cells(groups, values))

    def _need(self, cells: np.ndarray) -> None:
        flat_cand, flat_since = self._cand.reshape(-1), self._since.reshape(-1)
        for cell in np.unique(cells).tolist():
            if cell in self._asked:
                continue
            self._asked.add(cell)
            self._pool = None
            if self.fam.warm or cell in self._done:  # the whole stream is in the store / read already
                continue
            if self.fam.track is not None and cell >= flat_cand.size:  # first seen after the last refresh
                continue  # kept whole
            stop = int(flat_since[cell]) if cell < flat_cand.size and flat_cand[cell] else _NEVER
            if stop:
                self._pending[cell] = max(stop, self._pending.get(cell, 0))

    # -- the second pass ------------------------------------------------------------------

    def pending(self) -> dict[int, int]:
        """Cells still to read: cell -> number of leading batches to read them from."""
        return dict(self._pending)

    def cell_count(self, cell: int) -> int:
        return int(self.hist().reshape(-1)[cell])

    def collect(self, keys: np.ndarray | None, values: np.ndarray, bins: np.ndarray, batch: int,
                wanted: dict[int, int], whole: bool = False) -> None:
        """Keep the values of batch number ``batch`` (family ``keys``, None: group 0) that
        fall in ``wanted`` cells (cell -> batches to read it from, as :meth:`pending`);
        ``whole``: a pass over every row reads those cells whole, whatever the batch."""
        if whole:
            self._whole.update(wanted)
        targets = self._targets(wanted, None if whole else batch)
        if targets.size == 0 or values.size == 0:
            return
        groups = self.keys(np.zeros(values.size, np.int64) if keys is None else keys)
        cells = groups * self.nb + bins
        if whole and int(targets[-1]) < _DENSE:  # a lookup table: one gather a row
            lut = self._lut(targets)
            hit = lut[np.minimum(cells, lut.size - 1)] & (cells < lut.size)
        else:
            at = np.clip(np.searchsorted(targets, cells), 0, targets.size - 1)
            hit = targets[at] == cells
        if hit.any():
            self._found.append((cells[hit], values[hit]))

    def _lut(self, targets: np.ndarray) -> np.ndarray:
        cached = getattr(self, "_dense", None)
        if cached is None or cached[0] is not targets:
            lut = np.zeros(int(targets[-1]) + 1, bool)
            lut[targets] = True
            cached = self._dense = (targets, lut)
        return cached[1]

    def _targets(self, wanted: dict[int, int], batch: int | None) -> np.ndarray:
        """The wanted cells still read at ``batch`` (all of them: None), sorted."""
        cached = getattr(self, "_sorted_wanted", None)
        if cached is None or cached[0] is not wanted:
            cells = np.array(sorted(wanted), np.int64)
            cached = self._sorted_wanted = (wanted, cells, np.array([wanted[c] for c in cells.tolist()], np.int64))
        _, cells, stops = cached
        return cells if batch is None else cells[stops > batch]

    def ready(self, groups: np.ndarray, ranks: np.ndarray) -> bool:
        """Whether those ranks can be read now (no second pass needed for them)."""
        return not any(cell in self._pending for cell in self._cells(groups, ranks)[0].tolist())

    def collected(self, cells) -> None:
        """``cells`` were read again: what the store lacked of them is now in hand."""
        for cell in cells:
            self._pending.pop(cell, None)
            self._done.add(cell)
        self._pool = None

    # -- answers --------------------------------------------------------------------------

    def _sorted_cells(self):
        """The values of the cells asked for, sorted within each cell."""
        if self._pool is None:
            ids = np.array(sorted(self._asked), np.int64)
            parts = [self._asked_of(ids, *self._own(batch, c, v)) for batch, c, v in self.fam.store]
            parts += [self._asked_of(ids, c, v) for c, v in self._found]
            at = np.concatenate([c for c, _ in parts]) if parts else np.zeros(0, np.int64)
            values = np.concatenate([v for _, v in parts]) if parts else np.zeros(0, np.int64)
            self._pool = ids, sort_groups(at, values, ids.size)
        return self._pool

    @staticmethod
    def _asked_of(ids: np.ndarray, cells: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index in ``ids``, value) of the values of one stored part whose cells were
        asked for (filtered part by part: never a copy of the whole store)."""
        if not ids.size or not cells.size:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        at = np.clip(np.searchsorted(ids, cells), 0, ids.size - 1)
        keep = ids[at] == cells
        return at[keep], values[keep]

    def _own(self, batch: int, cells: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The store's values of batch ``batch`` this view counts as its own: those of
        cells it kept since then (the others are read again in full, or up to a later
        batch, by the second pass)."""
        mine = self.keys(cells // self.nb) * self.nb + cells % self.nb
        if self._whole:
            kept = ~np.isin(mine, np.array(sorted(self._whole), np.int64))
            mine, values = mine[kept], values[kept]
        if self.fam.warm:
            return mine, values
        flat_cand, flat_since = self._cand.reshape(-1), self._since.reshape(-1)
        inside = mine < flat_cand.size
        ok = np.zeros(mine.size, bool)
        ok[inside] = flat_cand[mine[inside]] & (flat_since[mine[inside]] <= batch)
        ok[~inside] = True  # a group sized after the last refresh: kept whole
        return mine[ok], values[ok]

    def _cell_values(self, cells: np.ndarray):
        ids, pool = self._sorted_cells()
        at = np.searchsorted(ids, cells)
        if cells.size and (at.max(initial=0) >= ids.size or not np.array_equal(ids[at], cells)):
            raise RuntimeError("a cell was asked for without being required first")
        return pool, at

    def values(self, groups: np.ndarray, ranks: np.ndarray) -> np.ndarray:
        """The ``ranks``-th smallest values (int64) of ``groups`` (arrays of one shape)."""
        shape = np.shape(ranks)
        cells, inside = self._cells(groups, ranks)
        pool, at = self._cell_values(cells)
        if np.any(pool.counts[at] != self.hist().reshape(-1)[cells]):  # a defect, never the data
            raise RuntimeError("incomplete cell: the store and the second pass disagree with the counts")
        return pool.values[pool.starts[at] + inside].reshape(shape)

    def below(self, groups: np.ndarray, values: np.ndarray) -> np.ndarray:
        """How many values of each group are < each of ``values``."""
        cells = self._below_cells(groups, values)
        flat = self.hist().reshape(-1)
        filled = flat[cells] > 0
        pool, at = self._cell_values(cells[filled])
        places = np.cumsum(filled) - 1
        out = np.empty(cells.size, np.int64)
        for i, (cell, value) in enumerate(zip(cells.tolist(), np.asarray(values).ravel().tolist())):
            inside = pool.group(at[places[i]]) if filled[i] else np.zeros(0, np.int64)
            start = cell - cell % self.nb
            out[i] = int(flat[start:cell].sum()) + int(np.searchsorted(inside, value, side="left"))
        return out
