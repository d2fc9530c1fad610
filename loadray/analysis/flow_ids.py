"""The flow code of every flow instance id seen, in memory that does not grow with rows.

A flow instance's last row (the one with ``flow_ns``) gives its id and flow; which
instances failed is known only once every row is read (:mod:`.flows`). Keeping every
(id, code) pair costs 16 B per instance (800 MB for a billion-row run with one flow
instance per 20 rows). When the ids' range is known (the column's statistics) and
small enough, one byte per id of the range holds the code + 1 instead (0: no last row
seen); otherwise (or past 254 flows) the pairs are kept.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DENSE_SPAN", "InstanceCodes"]

#: Widest id range held as a table (one byte per id).
DENSE_SPAN = 1 << 28
_MAX_CODE = 254


class InstanceCodes:
    """``add(ids, codes)`` as the rows go by; ``codes_of(ids)`` at the end."""

    def __init__(self, id_range: tuple[int, int] | None) -> None:
        self._lo = 0
        self._table: np.ndarray | None = None
        if id_range is not None and 0 <= id_range[1] - id_range[0] < DENSE_SPAN:
            self._lo = int(id_range[0])
            self._table = np.zeros(int(id_range[1]) - self._lo + 1, np.uint8)  # pages touched as ids come
        self._pairs: list[np.ndarray] = []  # (id, code) rows, when no table

    @property
    def dense(self) -> bool:
        return self._table is not None

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        if ids.size == 0:
            return
        table = self._table
        if table is not None:
            at = ids - self._lo
            if int(codes.max()) <= _MAX_CODE and int(at.min()) >= 0 and int(at.max()) < table.size:
                table[at] = codes + 1
                return
            self._to_pairs()
        self._pairs.append(np.stack([ids, codes]))

    def _to_pairs(self) -> None:
        assert self._table is not None
        at = np.flatnonzero(self._table)
        self._pairs.append(np.stack([at + self._lo, self._table[at].astype(np.int64) - 1]))
        self._table = None

    def codes_of(self, ids: np.ndarray) -> np.ndarray:
        """The flow codes of the instances whose id is in ``ids`` (sorted, distinct) and
        whose last row was seen."""
        if self._table is not None:
            at = ids - self._lo
            at = at[(at >= 0) & (at < self._table.size)]
            found = self._table[at]
            return found[found > 0].astype(np.int64) - 1
        pairs = np.concatenate(self._pairs, axis=1) if self._pairs else np.zeros((2, 0), np.int64)
        return pairs[1][np.isin(pairs[0], ids)]
