"""Log-linear bins of int64 values: ``2**bits`` bins per power of two, monotone and cheap.

The bin of ``v >= 1`` is the top ``12 + bits`` bits of its float64 representation
(exponent and leading mantissa bits), read as an integer: converting an int64 to a
float64 and shifting its bits is monotone in ``v``, so every value of bin ``b`` is <=
every value of bin ``b + 1`` — what exact rank selection needs (see :mod:`.ranks`).
A bin spans ``2**-bits`` of its value relatively (bits 10: 0.1%).

Bins are counted inside a window ``[lo, hi]`` (the column's range, from the Parquet
statistics when known): bin 0 holds every value below the window (and every value <= 0),
the last bin every value above it. Values outside the window are still ordered
correctly, only less finely, so a wrong window costs memory, never exactness.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FULL_RANGE", "LogBins"]

FULL_RANGE = (1, (1 << 62) - 1)


def _keys(values: np.ndarray, shift: int) -> np.ndarray:
    keys = np.asarray(values).astype(np.float64).view(np.int64)
    keys >>= shift
    return keys


class LogBins:
    """``2**bits`` bins per octave over the values ``[lo, hi]`` (see the module docstring)."""

    def __init__(self, bits: int, lo: int | None = None, hi: int | None = None) -> None:
        if not 0 <= bits <= 20:
            raise ValueError("bits must be in 0..20")
        self.bits = bits
        self.shift = 52 - bits
        lo = max(1, FULL_RANGE[0] if lo is None else int(lo))
        hi = max(lo, FULL_RANGE[1] if hi is None else int(hi))
        self.lo, self.hi = lo, hi
        self.base = int(_keys(np.array([lo], np.int64), self.shift)[0]) - 1  # lo's bin is 1
        self.size = int(_keys(np.array([hi], np.int64), self.shift)[0]) - self.base + 1

    def __repr__(self) -> str:
        return f"LogBins(bits={self.bits}, size={self.size})"

    def of(self, values: np.ndarray) -> np.ndarray:
        """The bin (int64, in ``[0, size)``) of every value."""
        keys = _keys(values, self.shift)
        keys -= self.base
        np.clip(keys, 0, self.size - 1, out=keys)
        return keys
