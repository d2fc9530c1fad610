"""Percentiles of every group of a :class:`~.ranks.Ranked` family, numpy's ``linear``
method bit for bit: first :func:`require` the ranks (before the second pass), then read
:func:`stats` (the summary's ``{p50 ... max, mean, min}``) or :func:`table` (a
breakdown's columns)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .percentiles import QUANTILES, linear_interpolate, linear_ranks, ranked_stats
from .rank_view import View

__all__ = ["maxima", "require", "stats", "table"]


def _ranks(counts: np.ndarray, qs: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    """(groups, ranks) of every value the percentiles ``qs`` (0..100), the minimum and
    the maximum of the non-empty groups read."""
    rows = np.flatnonzero(counts)
    if rows.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo, hi, _ = linear_ranks(counts[rows], list(qs))
    groups = np.broadcast_to(rows[:, None], lo.shape)
    ends = np.stack([np.zeros_like(rows), counts[rows] - 1], axis=1)
    return (np.concatenate([groups.ravel(), groups.ravel(), np.repeat(rows, 2)]),
            np.concatenate([lo.ravel(), hi.ravel(), ends.ravel()]))


def require(fam: View, qs: Iterable[float] = QUANTILES.values()) -> None:
    """Ask ``fam`` for what :func:`stats` / :func:`table` with these ``qs`` will read."""
    fam.require(*_ranks(fam.counts(), qs))


def stats(fam: View) -> list[dict[str, float | None]]:
    """``{p50 p90 p95 p99 p999 max mean min}`` in ms of every group (Nones when empty);
    ``fam`` needs ``sums=True``."""
    counts = fam.counts()
    sums = np.array([fam.total(g) for g in range(counts.size)], dtype=object)
    return ranked_stats(counts, sums, fam.values)


def table(fam: View, qs: Iterable[float]) -> np.ndarray:
    """(groups, len(qs)) percentiles in ns (float64; NaN for empty groups)."""
    qs = list(qs)
    counts = fam.counts()
    out = np.full((counts.size, len(qs)), np.nan)
    rows = np.flatnonzero(counts)
    if rows.size and qs:
        lo, hi, gamma = linear_ranks(counts[rows], qs)
        groups = np.broadcast_to(rows[:, None], lo.shape)
        out[rows] = linear_interpolate(fam.values(groups, lo), fam.values(groups, hi), gamma)
    return out


def maxima(fam: View) -> np.ndarray:
    """Largest value of every group (float64 ns, NaN when empty)."""
    counts = fam.counts()
    out = np.full(counts.size, np.nan)
    rows = np.flatnonzero(counts)
    if rows.size:
        out[rows] = fam.values(rows, counts[rows] - 1)
    return out
