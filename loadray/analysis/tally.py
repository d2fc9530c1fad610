"""Counts (or sums) by one or more small-int keys, accumulated batch by batch; the table
grows as new keys appear (global codes only ever grow: see :mod:`.batch`)."""

from __future__ import annotations

import numpy as np

from .arrays import bincount

__all__ = ["Tally", "add_counts", "exact_sums", "flat_index"]


def add_counts(into: np.ndarray, cells: np.ndarray, weights: np.ndarray | None = None) -> None:
    """``into[cells] += 1`` (or ``+= weights``) for flat int64 ``cells`` in range:
    ``np.bincount`` over the span the cells cover (``np.add.at`` would hold the GIL and
    stall the thread reading the next batch)."""
    if cells.size == 0:
        return
    if into.size <= max(1 << 16, 2 * cells.size):  # small next to the rows: count over all of it
        into += np.bincount(cells, weights=weights, minlength=into.size).astype(into.dtype, copy=False)
        return
    lo = int(cells.min())
    part = np.bincount(cells - lo, weights=weights)
    into[lo : lo + part.size] += part.astype(into.dtype, copy=False)


def flat_index(keys: tuple[np.ndarray, ...], shape: tuple[int, ...]) -> np.ndarray:
    """The flat (C order) int64 index of cells ``keys`` of a table of ``shape`` (keys in
    range: what ``np.ravel_multi_index`` gives, without its checks, several times faster)."""
    flat = keys[0].astype(np.int64)
    for k, size in zip(keys[1:], shape[1:]):
        flat *= size
        flat += k
    return flat


def exact_sums(keys: np.ndarray, values: np.ndarray, groups: int, bound: int | None = None) -> list[int]:
    """Exact integer sums of int64 ``values`` per key (a float bincount is exact while
    every partial sum stays below 2**53; else one per 32-bit half). ``bound``: a known
    bound of ``|values|``."""
    if values.size == 0:
        return [0] * groups
    if bound is None:
        bound = max(abs(int(values.max())), abs(int(values.min())))
    if bound * values.size < 2**53:
        return [int(v) for v in np.bincount(keys, weights=values, minlength=groups).tolist()]
    low = np.bincount(keys, weights=(values & 0xFFFFFFFF).astype(np.float64), minlength=groups)
    high = np.bincount(keys, weights=(values >> 32).astype(np.float64), minlength=groups)
    return [int(h) * (1 << 32) + int(lo) for h, lo in zip(high.tolist(), low.tolist())]


class Tally:
    """An N-dimensional table of counts (int64) or sums (float64 with ``float_sums``)."""

    def __init__(self, dims: int = 1, float_sums: bool = False) -> None:
        self.table = np.zeros((0,) * dims, np.float64 if float_sums else np.int64)

    def _grow(self, shape: tuple[int, ...]) -> None:
        if all(s <= have for s, have in zip(shape, self.table.shape)):
            return
        bigger = tuple(max(s, have) for s, have in zip(shape, self.table.shape))
        grown = np.zeros(bigger, self.table.dtype)
        grown[tuple(slice(0, s) for s in self.table.shape)] = self.table
        self.table = grown

    def add(self, *keys: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Count each row (or add its weight) at ``table[keys...]``; keys >= 0."""
        if keys[0].size == 0:
            return
        self._grow(tuple(int(k.max()) + 1 for k in keys))
        if len(keys) == 1 and weights is None:
            part = bincount(keys[0])
            self.table[: part.size] += part
            return
        add_counts(self.table.reshape(-1), flat_index(keys, self.table.shape), weights)

    def add_dense(self, block: np.ndarray) -> None:
        """Add a table of counts whose cell ``i, j...`` means the same as this one's."""
        self._grow(block.shape)
        self.table[tuple(slice(0, s) for s in block.shape)] += block

    def sized(self, *shape: int) -> np.ndarray:
        """The table padded with zeros to at least ``shape`` (a group seen by no row)."""
        self._grow(tuple(shape))
        return self.table
