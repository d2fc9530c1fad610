"""Exact percentiles of many groups at once: one sort, then index arithmetic.

Values are sorted *within* their group by a single ``np.sort`` of one int64 key that
holds the group in its high bits and the value in its low bits (no argsort, no Python
loop over groups); when the values' span is too wide for that (runs of days with
thousands of groups) a lexsort does the same. Percentiles then come from
:func:`~loadray.analysis.percentiles.sorted_percentiles`, bit-identical to numpy's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

import numpy as np

from .arrays import bincount
from .percentiles import sorted_percentiles

__all__ = ["SortedGroups", "map_groups", "sort_groups", "sort_with_keys"]


@dataclass(frozen=True)
class SortedGroups:
    """Values (int64 ns) ascending within each group; group ``g`` is
    ``values[starts[g] : starts[g] + counts[g]]`` (groups may be empty)."""

    values: np.ndarray
    starts: np.ndarray
    counts: np.ndarray

    def percentiles(self, qs: Iterable[float]) -> np.ndarray:
        """(groups, len(qs)) float64 ns, numpy's ``linear`` method; NaN when empty."""
        return sorted_percentiles(self.values, self.starts, self.counts, qs)

    def max(self) -> np.ndarray:
        """Largest value of every group (float64 ns), NaN when empty."""
        return self._at(self.starts + self.counts - 1)

    def min(self) -> np.ndarray:
        """Smallest value of every group (float64 ns), NaN when empty."""
        return self._at(self.starts)

    def group(self, g: int) -> np.ndarray:
        """The sorted values of group ``g`` (a view)."""
        return self.values[self.starts[g] : self.starts[g] + self.counts[g]]

    def _at(self, index: np.ndarray) -> np.ndarray:
        out = np.full(self.counts.size, np.nan)
        has = self.counts > 0
        out[has] = self.values[index[has]]
        return out


_CHUNK = 1 << 20
T = TypeVar("T")


def sort_groups(keys: np.ndarray, values: np.ndarray, groups: int, mask: np.ndarray | None = None) -> SortedGroups:
    """Group ``values`` (int64) by ``keys`` (ints in ``[0, groups)``, aligned with values),
    only the rows where ``mask`` is true when given. The inputs are not modified."""
    keys = keys[mask] if mask is not None else keys
    packed = values[mask] if mask is not None else values.copy()  # the one large copy
    counts = bincount(keys, minlength=groups).astype(np.int64)
    starts = np.cumsum(counts) - counts
    if groups <= 1 or packed.size == 0:
        packed.sort()
        return SortedGroups(packed, starts, counts)
    lo = min(int(packed.min()), 0)
    value_bits = 63 - int(groups - 1).bit_length()
    if int(packed.max()) - lo >= 1 << value_bits:
        return SortedGroups(packed[np.lexsort((packed, keys))], starts, counts)
    if lo:
        packed -= lo
    for i in range(0, packed.size, _CHUNK):  # chunks: no 8 B/row temporary for the keys
        packed[i : i + _CHUNK] |= keys[i : i + _CHUNK].astype(np.int64) << value_bits
    packed.sort()
    packed &= (1 << value_bits) - 1
    if lo:
        packed += lo
    return SortedGroups(packed, starts, counts)


_MASK_GROUPS_MAX = 8  # up to this many groups, pick each group's values by a mask


def sort_with_keys(
    values: np.ndarray, keys: list[tuple[np.ndarray, int]], mask: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The values where ``mask`` is true, sorted, and each key array (``(keys, groups)``
    pairs, keys in ``[0, groups)``) in that same order: one sort serves the run-wide
    percentiles and, through :func:`group_slices`, every grouping's."""
    bits = [int(groups - 1).bit_length() for _, groups in keys]
    total = sum(bits)
    offsets = [total - int(b) for b in np.cumsum(bits)]  # key i sits at bits offsets[i]..
    packed = values[mask]
    if packed.size == 0:
        return packed, [k[mask] for k, _ in keys]
    lo = min(int(packed.min()), 0)
    if int(packed.max()) - lo >= 1 << (63 - total):  # too wide to pack: slower, same result
        order = np.argsort(packed, kind="stable")
        return packed[order], [k[mask][order] for k, _ in keys]
    if lo:
        packed -= lo
    packed <<= total
    for (k, _), offset in zip(keys, offsets):  # the keys in the low bits: sorting orders by value
        chosen = k[mask]
        for i in range(0, packed.size, _CHUNK):
            packed[i : i + _CHUNK] |= chosen[i : i + _CHUNK].astype(np.int64) << offset
    packed.sort()
    sorted_keys = []
    for (k, _), offset, b in zip(keys, offsets, bits):
        out = np.empty(packed.size, dtype=k.dtype)
        for i in range(0, packed.size, _CHUNK):
            out[i : i + _CHUNK] = (packed[i : i + _CHUNK] >> offset) & ((1 << b) - 1)
        sorted_keys.append(out)
    packed >>= total
    if lo:
        packed += lo
    return packed, sorted_keys


def map_groups(sorted_values: np.ndarray, sorted_keys: np.ndarray, groups: int, fn: Callable[[np.ndarray], T]) -> list[T]:
    """``fn`` of each group's values, still sorted (``sorted_keys`` aligned with the values).
    Few groups are picked by a mask into one reused buffer (the slice passed to ``fn`` is
    only valid during the call), many by one stable radix argsort."""
    counts = bincount(sorted_keys, minlength=groups)
    if groups <= _MASK_GROUPS_MAX:
        buffer = np.empty(int(counts.max()) if counts.size else 0, sorted_values.dtype)
        return [fn(np.compress(sorted_keys == g, sorted_values, out=buffer[: counts[g]])) for g in range(groups)]
    grouped = sorted_values[np.argsort(sorted_keys, kind="stable")]  # radix sort: keeps value order
    bounds = np.concatenate(([0], np.cumsum(counts)))
    return [fn(grouped[bounds[g] : bounds[g + 1]]) for g in range(groups)]
