"""The shape of a latency distribution: its percentile spectrum and a histogram.

Both take values already sorted ascending (``SortedGroups.group(0)`` or ``np.sort``):
one sort serves every percentile, the histogram and the CDF.

The spectrum follows HdrHistogram's percentile distribution: percentiles spaced evenly
on a log ``1/(1-q)`` axis (``per_decade`` points per factor of ten: 90%, 99%, 99.9%...
are on it) from the minimum (q = 0) to the last q with ``1/(1-q) <= n``, plus p25, p50,
p75 and the maximum (percentile 100, placed at ``inv_tail = n``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .percentiles import ms, sorted_percentiles

__all__ = ["DEFAULT_BINS", "DEFAULT_PER_DECADE", "histogram", "spectrum", "spectrum_percentiles"]

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


def spectrum(sorted_ns: Mapping[str, np.ndarray], per_decade: int = DEFAULT_PER_DECADE) -> pd.DataFrame:
    """One row per spectrum percentile: ``inv_tail`` = 1/(1-q) and ``<name>_ms`` for
    every named sorted array (e.g. ``{"latency": ..., "service": ...}``), indexed by
    ``percentile``. Arrays of different lengths share the grid of the longest."""
    n = max((v.size for v in sorted_ns.values()), default=0)
    pct = spectrum_percentiles(n, per_decade)
    with np.errstate(divide="ignore"):
        inv_tail = np.where(pct < 100.0, 1.0 / (1.0 - pct / 100.0), float(n))
    columns = {"inv_tail": inv_tail}
    for name, values in sorted_ns.items():
        row = sorted_percentiles(values, np.zeros(1, np.int64), np.array([values.size]), pct)[0]
        columns[f"{name}_ms"] = ms(row)
    return pd.DataFrame(columns, index=pd.Index(pct, name="percentile"))


def histogram(sorted_ns: np.ndarray, bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """Counts in ``bins`` log-spaced bins from the minimum to the maximum, and the
    CDF (fraction of values <= the bin's upper edge). Columns ``lo_ms hi_ms count cdf``."""
    if sorted_ns.size == 0:
        return pd.DataFrame({"lo_ms": [], "hi_ms": [], "count": pd.Series([], dtype=np.int64), "cdf": []})
    lo = max(float(sorted_ns[0]), _MIN_EDGE_NS)
    hi = max(float(sorted_ns[-1]), lo * 1.001)
    edges = np.geomspace(lo, hi, bins + 1)
    edges[-1] = np.nextafter(hi, np.inf)  # the maximum falls in the last bin
    below = np.searchsorted(sorted_ns, edges, side="left")
    below[0] = 0  # values under the first edge (< 1 µs) count in the first bin
    counts = np.diff(below)
    return pd.DataFrame(
        {"lo_ms": edges[:-1] / 1e6, "hi_ms": edges[1:] / 1e6, "count": counts, "cdf": below[1:] / sorted_ns.size}
    )
