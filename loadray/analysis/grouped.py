"""Exact percentiles of many groups at once: one sort, then index arithmetic.

Values are sorted *within* their group by a single ``np.sort`` of one int64 key that
holds the group in its high bits and the value in its low bits (no argsort, no Python
loop over groups); when the values' span is too wide for that (runs of days with
thousands of groups) a lexsort does the same. Percentiles then come from
:func:`~loadray.analysis.percentiles.sorted_percentiles`, bit-identical to numpy's.

The streaming analysis sorts the values of the cells it reads this way
(:mod:`.rank_view`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .arrays import bincount
from .percentiles import sorted_percentiles

__all__ = ["SortedGroups", "sort_groups"]


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


def sort_groups(keys: np.ndarray, values: np.ndarray, groups: int, mask: np.ndarray | None = None,
                own: bool = False) -> SortedGroups:
    """Group ``values`` (int64) by ``keys`` (ints in ``[0, groups)``, aligned with values),
    only the rows where ``mask`` is true when given. The inputs are not modified, but
    ``values`` with ``own`` (a fresh array the caller gives up: no copy)."""
    keys = keys[mask] if mask is not None else keys
    packed = values[mask] if mask is not None else values if own else values.copy()  # the one large copy
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
