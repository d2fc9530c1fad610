"""Flow instances: one per row that carries ``flow_ns`` (the last row of an instance).

- **name**: the part of that row's ``step`` before the first ``/`` (a step of a
  multi-step flow is named ``FLOW/STEP``; a one-step flow's row carries the request
  name, which is the flow's);
- **failed**: one of the instance's logical requests failed, i.e. a row with its
  ``flow_id`` has an error and is not followed by a retry of the same step (a failed
  attempt whose retry succeeded does not fail the flow; a failed step that does not
  stop the flow, ``stop_on_failure: false``, does). A row with ``flow_ns`` but no
  ``flow_id`` is an instance of its own: failed when that row has an error.
  Only the rows with an error and the retries are grouped (not every flow row), so
  this stays cheap at 10M rows;
- **latency**: ``flow_ns``, from the instance's intended start to its last row's end.

Instances cut at the stop (no ``flow_ns``) are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import UNNAMED_STEP, SampleArrays, bincount, flow_name
from .grouped import sort_groups
from .percentiles import sorted_stats

__all__ = ["FlowInstances", "flow_codes", "flow_instances", "flow_summary"]


@dataclass(frozen=True)
class FlowInstances:
    """Every flow instance of a run: its last row, flow (index into ``names``), whether
    it failed, and its end-to-end latency (ns)."""

    names: list[str]
    rows: np.ndarray
    keys: np.ndarray
    failed: np.ndarray
    latency_ns: np.ndarray

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Instances and failed instances per flow (arrays of ``len(names)``)."""
        groups = len(self.names)
        return bincount(self.keys, minlength=groups)[:groups], bincount(self.keys[self.failed], minlength=groups)[:groups]


def flow_codes(a: SampleArrays) -> tuple[np.ndarray, list[str]]:
    """The flow of every step code: ``lut[step_code + 1]`` indexes the returned names
    (null steps are :data:`UNNAMED_STEP`), names in first-seen order."""
    index: dict[str, int] = {}
    lut = np.array([index.setdefault(flow_name(s), len(index)) for s in [UNNAMED_STEP, *a.step_names]], np.int32)
    return lut, list(index)


def _failed_flow_ids(a: SampleArrays) -> np.ndarray:
    """Sorted ids of the flow instances with a failed logical request."""
    bad = np.flatnonzero(a.has_flow_id & (a.error_codes >= 0))
    if bad.size == 0:
        return bad.astype(np.int64)
    retries = np.flatnonzero(a.has_flow_id & (a.attempt > 1))
    if retries.size:  # drop failed attempts that a retry of the same step followed
        ranks = np.unique(np.concatenate((a.flow_id[bad], a.flow_id[retries])), return_inverse=True)[1]
        steps = np.int64(len(a.step_names) + 1)

        def key(rank: np.ndarray, rows: np.ndarray, attempt: np.ndarray) -> np.ndarray:
            return (rank.astype(np.int64) * steps + a.step_codes[rows] + 1) * 256 + attempt

        followed = np.isin(
            key(ranks[: bad.size], bad, a.attempt[bad].astype(np.int64) + 1),
            key(ranks[bad.size :], retries, a.attempt[retries].astype(np.int64)),
        )
        bad = bad[~followed]
    return np.unique(a.flow_id[bad])


def flow_instances(a: SampleArrays) -> FlowInstances:
    """The :class:`FlowInstances` of ``a`` (cached in it)."""
    cached = a._cache.get("flows")
    if cached is not None:
        return cached
    lut, names = flow_codes(a)
    rows = np.flatnonzero(a.has_flow_ns)
    failed = a.error_codes[rows] >= 0
    if rows.size:
        with_id = a.has_flow_id[rows]
        failed[with_id] = np.isin(a.flow_id[rows[with_id]], _failed_flow_ids(a))
    keys = lut[a.step_codes[rows].astype(np.int32) + 1]
    found = FlowInstances(names, rows, keys, failed, a.flow_ns[rows])
    a._cache["flows"] = found
    return found


def flow_summary(a: SampleArrays) -> dict[str, dict]:
    """``{flow: {"count", "ok", "failed", "flow_ms": {p50 ... max, mean, min}}}`` by
    flow name; {} when no row carries ``flow_ns``."""
    f = flow_instances(a)
    if f.rows.size == 0:
        return {}
    count, failed = f.counts()
    grouped = sort_groups(f.keys, f.latency_ns, len(f.names))
    out: dict[str, dict] = {}
    for g in sorted(np.flatnonzero(count), key=lambda i: f.names[i]):
        out[f.names[g]] = {
            "count": int(count[g]),
            "ok": int(count[g] - failed[g]),
            "failed": int(failed[g]),
            "flow_ms": sorted_stats(grouped.group(int(g))),
        }
    return out
