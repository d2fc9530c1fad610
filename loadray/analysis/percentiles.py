"""Exact percentiles of raw latencies.

Method: linear interpolation between the two closest ranks (numpy's default
``method="linear"``, Hyndman & Fan type 7): for sorted values ``x[0..n-1]`` and
``q`` in [0, 100], ``h = (n - 1) * q / 100`` and the result is
``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``.
It is the same number as ``numpy.percentile(x, q)``, ``pandas.Series.quantile(q/100)``,
``pyarrow.compute.quantile(x, q/100)`` (interpolation "linear"), DuckDB
``quantile_cont(x, q/100)`` and polars ``quantile(q/100, "linear")``, so anyone can
check loadray's numbers against the archived Parquet with their tool of choice.

Inputs are nanoseconds (int64); outputs are milliseconds rounded to 3 decimals (1 µs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

__all__ = [
    "BREAKDOWN_QUANTILES",
    "QUANTILES",
    "STAT_KEYS",
    "latency_stats",
    "linear_interpolate",
    "linear_ranks",
    "ms",
    "percentile_ms",
    "percentiles_ms",
    "quantile_key",
    "ranked_stats",
    "sorted_percentiles",
    "sorted_stats",
]

#: Summary key -> percentile (0..100).
QUANTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
#: The percentiles of breakdowns and time series (per step, per second, ...).
BREAKDOWN_QUANTILES: dict[str, float] = {
    "p50": 50.0, "p75": 75.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9, "p9999": 99.99,
}
STAT_KEYS = (*QUANTILES, "max", "mean", "min")

_NS_PER_MS = 1e6
_DECIMALS = 3


def quantile_key(q: float) -> str:
    """Summary key of percentile ``q``: 99 -> "p99", 99.9 -> "p999", 99.99 -> "p9999"."""
    text = f"{float(q):g}"
    return "p" + text.replace(".", "")


def _ms(value_ns: float) -> float:
    return round(float(value_ns) / _NS_PER_MS, _DECIMALS)


def ms(values_ns: np.ndarray) -> np.ndarray:
    """Nanoseconds -> ms rounded like every summary figure (3 decimals); NaN stays NaN."""
    flat = np.asarray(values_ns, dtype=np.float64)
    return np.array([_ms(v) if v == v else np.nan for v in flat.ravel()]).reshape(flat.shape)


def _as_array(values_ns: object) -> np.ndarray:
    arr = np.asarray(values_ns)
    if arr.ndim != 1:
        arr = arr.ravel()
    return arr


def percentiles_ms(
    values_ns: object, qs: Iterable[float], *, overwrite: bool = False
) -> list[float | None]:
    """Exact percentiles ``qs`` (0..100) of ``values_ns``, in ms; Nones when empty.

    ``overwrite=True`` lets numpy partition ``values_ns`` in place (no 8 B/row copy):
    pass it only for an array you own and whose order you no longer need.
    """
    qs = [float(q) for q in qs]
    arr = _as_array(values_ns)
    if arr.size == 0:
        return [None] * len(qs)
    if not qs:
        return []
    # One call: numpy partitions once around all needed ranks (no full sort).
    out = np.percentile(arr, qs, overwrite_input=overwrite)
    return [_ms(v) for v in np.atleast_1d(out)]


def percentile_ms(values_ns: object, q: float, *, overwrite: bool = False) -> float | None:
    """Exact percentile ``q`` (0..100) of ``values_ns`` in ms; None when empty."""
    return percentiles_ms(values_ns, [q], overwrite=overwrite)[0]


def latency_stats(values_ns: object, *, overwrite: bool = False) -> dict[str, float | None]:
    """``{p50, p90, p95, p99, p999, max, mean, min}`` in ms (3 decimals); Nones when empty.

    ``overwrite=True``: see :func:`percentiles_ms` (reorders ``values_ns`` in place).
    """
    arr = _as_array(values_ns)
    if arr.size == 0:
        return {k: None for k in STAT_KEYS}
    qs = QUANTILES.values()
    stats: dict[str, float | None] = dict(zip(QUANTILES, percentiles_ms(arr, qs, overwrite=overwrite)))
    stats["max"] = _ms(arr.max())
    stats["mean"] = _ms(arr.mean(dtype=np.float64))
    stats["min"] = _ms(arr.min())
    return stats


def linear_ranks(counts: np.ndarray, qs: Iterable[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy's ``method="linear"`` for groups of ``counts`` (all > 0) values: the ranks
    ``lo``, ``hi`` (0-based, in each group's ascending order) of the two values every
    percentile ``qs`` (0..100) interpolates between, and the weight ``gamma`` of the
    upper one. Shapes (groups, len(qs)). Finish with :func:`linear_interpolate`."""
    q = np.true_divide(np.asarray(list(qs), dtype=np.float64), 100)
    n = np.asarray(counts, dtype=np.int64)[:, None]
    virtual = (n - 1) * q[None, :]
    previous = np.floor(virtual)
    last = virtual >= n - 1  # numpy takes the last value there
    lo = np.where(last, n - 1, previous).astype(np.int64)
    hi = np.where(last, n - 1, previous + 1).astype(np.int64)
    return lo, hi, virtual - previous


def linear_interpolate(a: np.ndarray, b: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """numpy's two-sided lerp between the values ``a`` (rank lo) and ``b`` (rank hi)."""
    diff = b - a
    result = a + diff * gamma
    upper = gamma >= 0.5
    result[upper] = (b - diff * (1 - gamma))[upper]
    return result


def sorted_percentiles(
    sorted_ns: np.ndarray, starts: np.ndarray, counts: np.ndarray, qs: Iterable[float]
) -> np.ndarray:
    """Percentiles ``qs`` (0..100) of many groups at once, in ns: shape (groups, len(qs)).

    Group ``g`` is ``sorted_ns[starts[g] : starts[g] + counts[g]]``, ascending. The
    arithmetic is numpy's ``method="linear"`` step for step (virtual index
    ``(n - 1) * q``, then its two-sided lerp), so every value is bit-identical to
    ``numpy.percentile`` of that group. NaN for empty groups.
    """
    qs = list(qs)
    counts = np.asarray(counts, dtype=np.int64)
    out = np.full((counts.size, len(qs)), np.nan)
    rows = counts > 0
    if not rows.any() or not qs:
        return out
    lo, hi, gamma = linear_ranks(counts[rows], qs)
    base = np.asarray(starts, dtype=np.int64)[rows][:, None]
    out[rows] = linear_interpolate(sorted_ns[base + lo], sorted_ns[base + hi], gamma)
    return out


def ranked_stats(
    counts: np.ndarray, sums: np.ndarray, value_at: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> list[dict[str, float | None]]:
    """:func:`latency_stats` of many groups from ``value_at(groups, ranks)`` (the
    ``ranks``-th smallest values of ``groups``, arrays of the same shape), the groups'
    ``counts`` and the ``sums`` of their values: only the ranks the percentiles need are
    read, no group is sorted or copied."""
    counts = np.asarray(counts, dtype=np.int64)
    out: list[dict[str, float | None]] = [{k: None for k in STAT_KEYS} for _ in range(counts.size)]
    rows = np.flatnonzero(counts)
    if rows.size == 0:
        return out
    lo, hi, gamma = linear_ranks(counts[rows], QUANTILES.values())
    groups = np.broadcast_to(rows[:, None], lo.shape)
    table = linear_interpolate(value_at(groups, lo), value_at(groups, hi), gamma)
    first = value_at(rows, np.zeros_like(rows))
    last = value_at(rows, counts[rows] - 1)
    for i, g in enumerate(rows.tolist()):
        stats: dict[str, float | None] = {k: _ms(v) for k, v in zip(QUANTILES, table[i])}
        stats["max"] = _ms(last[i])
        stats["mean"] = _ms(sums[g] / counts[g])
        stats["min"] = _ms(first[i])
        out[g] = stats
    return out


def sorted_stats(sorted_ns: np.ndarray) -> dict[str, float | None]:
    """:func:`latency_stats` of values already sorted ascending (no partition needed)."""
    if sorted_ns.size == 0:
        return {k: None for k in STAT_KEYS}
    row = sorted_percentiles(sorted_ns, np.zeros(1, np.int64), np.array([sorted_ns.size]), QUANTILES.values())[0]
    stats: dict[str, float | None] = {k: _ms(v) for k, v in zip(QUANTILES, row)}
    stats["max"] = _ms(sorted_ns[-1])
    stats["mean"] = _ms(sorted_ns.mean(dtype=np.float64))
    stats["min"] = _ms(sorted_ns[0])
    return stats
