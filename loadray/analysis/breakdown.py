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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .arrays import (
    UNNAMED_STEP,
    SampleArrays,
    as_arrays,
    bincount,
    class_counts,
    split_classes,
)
from .flows import flow_codes, flow_instances
from .grouped import sort_groups
from .percentiles import BREAKDOWN_QUANTILES, ms

__all__ = ["BY", "NO_ERROR", "NO_FLOW", "breakdown", "group_keys", "percentile_columns", "rate_columns"]

BY = (None, "step", "phase", "worker", "status", "error", "flow", "attempt", "user")
NO_ERROR = "(none)"
NO_FLOW = "(none)"
ALL = "all"


def _flow_keys(a: SampleArrays) -> tuple[np.ndarray, list[Any]]:
    lut, names = flow_codes(a)
    keys = lut[a.step_codes.astype(np.int32) + 1] + 1
    keys[~(a.has_flow_id | a.has_flow_ns)] = 0
    return keys, [NO_FLOW, *names]


def _user_keys(a: SampleArrays) -> tuple[np.ndarray, list[Any]]:
    users, keys = np.unique(np.where(a.has_user, a.user.astype(np.int64), -1), return_inverse=True)
    labels: list[Any] = [int(u) for u in users]
    if not a.has_user.all():  # -1 sorts first; real ids are >= 0
        labels[0] = pd.NA
    return keys.ravel(), labels


def group_keys(a: SampleArrays, by: str | None) -> tuple[np.ndarray, list[Any]]:
    """Per-row group index (0..len(labels)-1) and the label of every index."""
    if by is None:
        return np.zeros(a.n, dtype=np.int8), [ALL]
    if by in ("step", "error"):
        codes, names, none = (
            (a.step_codes, a.step_names, UNNAMED_STEP) if by == "step" else (a.error_codes, a.error_names, NO_ERROR)
        )
        return codes + codes.dtype.type(1), [none, *names]
    if by == "flow":
        return _flow_keys(a)
    if by == "user":
        return _user_keys(a)
    if by in ("phase", "worker", "status", "attempt"):
        values = getattr(a, by)
        if values.size == 0:
            return values, []
        lo, hi = int(values.min()), int(values.max())
        return (values - values.dtype.type(lo)) if lo else values, list(range(lo, hi + 1))
    raise ValueError(f"by must be one of {', '.join(map(str, BY))}; got {by!r}")


def flow_columns(a: SampleArrays, groups: int) -> dict[str, np.ndarray]:
    """``flows flows_ok flows_failed`` and ``flow_<p>_ms`` per group of ``by="flow"``."""
    f = flow_instances(a)
    keys = f.keys + 1  # group 0: outside any flow
    count, failed = bincount(keys, minlength=groups)[:groups], bincount(keys[f.failed], minlength=groups)[:groups]
    sg = sort_groups(keys, f.latency_ns, groups)
    table = ms(sg.percentiles(BREAKDOWN_QUANTILES.values()))
    out = {"flows": count, "flows_ok": count - failed, "flows_failed": failed}
    out.update({f"flow_{key}_ms": table[:, i] for i, key in enumerate(BREAKDOWN_QUANTILES)})
    out["flow_max_ms"] = ms(sg.max())
    return out


def percentile_columns(a: SampleArrays, keys: np.ndarray, groups: int) -> dict[str, np.ndarray]:
    """``latency_<p>_ms`` and ``service_<p>_ms`` (and ``_max_ms``) per group."""
    out: dict[str, np.ndarray] = {}
    for name, values, has in (("latency", a.latency_ns, a.has_latency), ("service", a.service_ns, a.has_service)):
        sg = sort_groups(keys, values, groups, has)
        table = ms(sg.percentiles(BREAKDOWN_QUANTILES.values()))
        for i, key in enumerate(BREAKDOWN_QUANTILES):
            out[f"{name}_{key}_ms"] = table[:, i]
        out[f"{name}_max_ms"] = ms(sg.max())
    return out


def rate_columns(counts: np.ndarray, sent: np.ndarray | None, seconds: float) -> dict[str, np.ndarray]:
    """Counts by row class (from ``class_counts``) as the frame's count and rate columns;
    ``sent`` defaults to the rows that were not dropped."""
    dropped, cut, errors, ok = split_classes(counts)
    intended = counts.sum(axis=1)
    sent = intended - dropped if sent is None else sent
    completed = errors + ok
    success = np.where(completed > 0, ok / np.maximum(completed, 1), np.nan)
    per_s = 1.0 / seconds if seconds > 0 else np.nan
    counted = dict(intended=intended, sent=sent, dropped=dropped, cut=cut, completed=completed, ok=ok, errors=errors)
    return {**counted, "success_rate": success, "rate": sent * per_s, "intended_rate": intended * per_s}


def breakdown(data: pa.Table | SampleArrays, by: str | None = None, duration_s: float | None = None) -> pd.DataFrame:
    """One row per group of ``by`` (see the module docstring), indexed by the label.

    ``duration_s`` divides the counts into rates; default: first to last intended send.
    """
    a = as_arrays(data)
    keys, labels = group_keys(a, by)
    groups = len(labels)
    counts = class_counts(a, keys, groups) if a.n else np.zeros((groups, 4), np.int64)
    if duration_s is None:
        duration_s = float(a.intended_ns.max() - a.intended_ns.min()) / 1e9 if a.n else 0.0
    columns = rate_columns(counts, None, duration_s)
    columns.update(percentile_columns(a, keys, groups))
    if by == "flow":
        columns.update(flow_columns(a, groups))
    index = pd.Index(labels, name=by, dtype="Int64") if by == "user" else pd.Index(labels, name=by or ALL)
    frame = pd.DataFrame(columns, index=index)
    if by is None:
        return frame
    frame = frame[frame["intended"] > 0]
    return frame.sort_index() if by in ("step", "error", "flow") else frame
