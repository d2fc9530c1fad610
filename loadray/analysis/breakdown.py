"""A run broken down by one column: counts, rates and exact percentiles per group.

``breakdown(data, by)`` with ``by`` one of None (the whole run), ``"step"``,
``"phase"``, ``"worker"``, ``"status"``, ``"error"``, ``"flow"``, ``"attempt"`` or
``"user"`` gives one row per group present:

- counts ``intended sent dropped cut completed ok errors`` (accounting as in
  :mod:`loadray.analysis.summary`), ``success_rate`` = ok / completed;
- ``rate`` (sent/s) and ``intended_rate`` over the run's duration;
- ``latency_<p>_ms`` and ``service_<p>_ms`` for p50 p75 p90 p95 p99 p999 p9999 and
  max, over completed rows, exact (numpy's ``linear`` method), rounded to 1 µs.

``by="flow"`` groups the rows of flow instances by flow name (the ``step`` before its
first ``/``; rows outside any flow are ``(none)``) and adds the instances' own figures
(see :mod:`loadray.analysis.flows`): ``flows``, ``flows_ok``, ``flows_failed`` and
``flow_<p>_ms`` (end-to-end ``flow_ns``). ``by="attempt"``: 1 = first tries, 2.. =
retries. ``by="user"``: the closed model's virtual users; rows without one (the open
model's) are the group ``<NA>`` of the nullable integer index.

:class:`BreakdownFold` folds it batch by batch (any archive size); :func:`breakdown`
runs it over an in-memory table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .arrays import CLASSES, SampleArrays, row_class, split_classes
from .batch import Batch, Registry
from .flows import FlowFold
from .groupings import NO_ERROR, NO_FLOW, Grouping
from .groupings import by as grouping_by
from .percentiles import BREAKDOWN_QUANTILES, ms
from .quantiles import maxima, require, table
from .rank_view import View
from .tally import Tally

__all__ = ["BY", "NO_ERROR", "NO_FLOW", "BreakdownFold", "breakdown", "percentile_columns", "rate_columns"]

BY = (None, "step", "phase", "worker", "status", "error", "flow", "attempt", "user")
ALL = "all"
_BY_VALUE = ("phase", "worker", "status", "attempt", "user")  # labels are values: ascending


def rate_columns(counts: np.ndarray, sent: np.ndarray | None, seconds: float) -> dict[str, np.ndarray]:
    """Counts by row class (``(groups, CLASSES)``) as the frame's count and rate columns;
    ``sent`` defaults to the rows that were not dropped."""
    dropped, cut, errors, ok = split_classes(counts)
    intended = counts.sum(axis=1)
    sent = intended - dropped if sent is None else sent
    completed = errors + ok
    success = np.where(completed > 0, ok / np.maximum(completed, 1), np.nan)
    per_s = 1.0 / seconds if seconds > 0 else np.nan
    counted = dict(intended=intended, sent=sent, dropped=dropped, cut=cut, completed=completed, ok=ok, errors=errors)
    return {**counted, "success_rate": success, "rate": sent * per_s, "intended_rate": intended * per_s}


def _fit(values: np.ndarray, groups: int) -> np.ndarray:
    """``values`` (per group the family saw) padded with NaN to ``groups`` rows."""
    out = np.full((groups, *values.shape[1:]), np.nan)
    out[: min(groups, values.shape[0])] = values[:groups]
    return out


def percentile_columns(families: dict[str, View], groups: int) -> dict[str, np.ndarray]:
    """``<metric>_<p>_ms`` (p50 ... p9999) and ``<metric>_max_ms`` per group, for each
    ``{metric: family}`` (the families' ranks required with :func:`require_percentiles`)."""
    out: dict[str, np.ndarray] = {}
    for name, fam in families.items():
        found = _fit(ms(table(fam, BREAKDOWN_QUANTILES.values())), groups)
        for i, key in enumerate(BREAKDOWN_QUANTILES):
            out[f"{name}_{key}_ms"] = found[:, i]
        out[f"{name}_max_ms"] = _fit(ms(maxima(fam)), groups)
    return out


def require_percentiles(families: dict[str, View]) -> None:
    for fam in families.values():
        require(fam, BREAKDOWN_QUANTILES.values())


class BreakdownFold:
    """One row per group of ``by`` (see the module docstring), folded batch by batch."""

    def __init__(self, by: str | None = None, track: bool = False) -> None:
        if by not in BY:
            raise ValueError(f"by must be one of {', '.join(map(str, BY))}; got {by!r}")
        self.by = by
        self.grouping: Grouping = grouping_by(by)
        self.classes = Tally(2)
        self.flows = FlowFold(breakdown=True) if by == "flow" else None
        self.columns = self.grouping.columns | (FlowFold.columns if self.flows else frozenset())
        self.families: dict[str, View] = {}
        self.track = [q / 100 for q in BREAKDOWN_QUANTILES.values()] if track else []  # keep what the frame reads
        self.first_ns: int | None = None
        self.last_ns: int | None = None

    def declare(self, stream) -> None:
        self.families = {m: stream.family(m, self.grouping, self.track) for m in ("latency", "service")}
        if self.flows is not None:
            self.flows.declare(stream)

    def add(self, b: Batch) -> None:
        keys = self.grouping.keys(b)
        self.classes.add(np.zeros(b.n, np.int64) if keys is None else keys, row_class(b.a).astype(np.int64))
        if self.flows is not None:
            self.flows.add(b)
        if b.n:
            lo, hi = int(b.a.intended_ns.min()), int(b.a.intended_ns.max())
            self.first_ns = lo if self.first_ns is None else min(self.first_ns, lo)
            self.last_ns = hi if self.last_ns is None else max(self.last_ns, hi)

    def require(self, stream) -> None:
        require_percentiles(self.families)
        if self.flows is not None:
            self.flows.require(stream)

    def frame(self, registry: Registry, duration_s: float | None = None) -> pd.DataFrame:
        """The breakdown; ``duration_s`` divides the counts into rates (default: first
        to last intended send)."""
        labels: list[Any] = self.grouping.labels(registry)
        groups = len(labels)
        counts = self.classes.sized(groups, CLASSES)[:groups, :CLASSES]
        if duration_s is None:
            duration_s = (self.last_ns - self.first_ns) / 1e9 if self.first_ns is not None and self.last_ns is not None else 0.0
        columns = rate_columns(counts, None, duration_s)
        columns.update(percentile_columns(self.families, groups))
        if self.flows is not None:
            columns.update(self.flows.columns_by_flow(registry, groups))
        name = self.by or ALL
        index = pd.Index(labels, name=name, dtype="Int64") if self.by == "user" else pd.Index(labels, name=name)
        frame = pd.DataFrame(columns, index=index)
        if self.by is None:
            return frame
        frame = frame[frame["intended"] > 0]
        if self.by in _BY_VALUE:
            order = np.argsort([-(1 << 62) if v is pd.NA else v for v in frame.index], kind="stable")
            return frame.iloc[order]
        return frame.sort_index()


def breakdown(data: pa.Table | SampleArrays, by: str | None = None, duration_s: float | None = None) -> pd.DataFrame:
    """:class:`BreakdownFold` over an in-memory table: one row per group of ``by``."""
    from .stream import Stream, TableSource

    fold = BreakdownFold(by)
    stream = Stream(TableSource(data))
    stream.run([fold])
    return fold.frame(stream.registry, duration_s)
