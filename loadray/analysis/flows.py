"""Flow instances: one per row that carries ``flow_ns`` (the last row of an instance).

- **name**: the part of that row's ``step`` before the first ``/`` (a step of a
  multi-step flow is named ``FLOW/STEP``; a one-step flow's row carries the request
  name, which is the flow's);
- **failed**: one of the instance's logical requests failed, i.e. a row with its
  ``flow_id`` has an error and is not followed by a retry of the same step (a failed
  attempt whose retry succeeded does not fail the flow; a failed step that does not
  stop the flow, ``stop_on_failure: false``, does). A row with ``flow_ns`` but no
  ``flow_id`` is an instance of its own: failed when that row has an error.
  Only the rows with an error, the retries and the instances' flows by id
  (:mod:`.flow_ids`) are kept as the batches go by (not every flow row);
- **latency**: ``flow_ns``, from the instance's intended start to its last row's end
  (exact percentiles from the family ``flow`` by ``flow_name``).

Instances cut at the stop (no ``flow_ns``) are not counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import bincount
from .batch import Batch, Registry
from .flow_ids import InstanceCodes
from .groupings import by
from .percentiles import BREAKDOWN_QUANTILES, QUANTILES, ms
from .quantiles import maxima, require, stats, table
from .rank_view import View

__all__ = ["FlowFold"]


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


class FlowFold:
    """Flow instances folded batch by batch (see the module docstring)."""

    columns = frozenset({"flow_id", "flow_ns", "attempt"})

    def __init__(self, breakdown: bool = False) -> None:
        self.breakdown = breakdown  # also the percentiles of ``by="flow"``
        self.fam: View | None = None
        self._bad: list[np.ndarray] = []  # (flow_id, step key, attempt) of rows with an error
        self._retries: list[np.ndarray] = []  # the same of retries
        self._ids = InstanceCodes(None)  # flow code of each instance id (sized by declare)
        self._lone_failed: list[np.ndarray] = []  # flow codes of failed instances without an id

    def declare(self, stream) -> None:
        self.fam = stream.family("flow", by("flow_name"), track=[q / 100 for q in QUANTILES.values()], sums=True)
        self._ids = InstanceCodes(stream.source.value_range("flow_id"))

    def warm(self, b: Batch) -> None:
        """The flow code of every step key, coded on the pass's thread (:mod:`.side`)."""
        b.step_flows  # noqa: B018 (cached)

    def add(self, b: Batch) -> None:
        a = b.a
        with_id = a.has_flow_id
        for rows, into in ((with_id & (b.error >= 0), self._bad), (with_id & (a.attempt > 1), self._retries)):
            if rows.any():
                into.append(np.stack([a.flow_id[rows], b.step_keys[rows], a.attempt[rows].astype(np.int64)]))
        last = a.has_flow_ns
        if last.any():
            codes = b.step_flows[b.step_keys[last]]
            ids = with_id[last]
            self._ids.add(a.flow_id[last][ids], codes[ids])
            self._lone_failed.append(codes[~ids & (b.error[last] >= 0)])

    def require(self, stream) -> None:
        assert self.fam is not None
        require(self.fam)
        if self.breakdown:
            require(self.fam, BREAKDOWN_QUANTILES.values())

    def _failed_ids(self) -> np.ndarray:
        """Sorted ids of the flow instances with a failed logical request."""
        bad = np.concatenate(self._bad, axis=1) if self._bad else np.zeros((3, 0), np.int64)
        if bad.shape[1] and self._retries:
            retries = np.concatenate(self._retries, axis=1)
            ranks = np.unique(np.concatenate((bad[0], retries[0])), return_inverse=True)[1].ravel()
            steps = np.int64(int(max(bad[1].max(), retries[1].max())) + 1)

            def key(rank: np.ndarray, step: np.ndarray, attempt: np.ndarray) -> np.ndarray:
                return (rank.astype(np.int64) * steps + step) * 256 + attempt

            followed = np.isin(key(ranks[: bad.shape[1]], bad[1], bad[2] + 1),
                               key(ranks[bad.shape[1]:], retries[1], retries[2]))
            bad = bad[:, ~followed]
        return np.unique(bad[0])

    def counts(self, registry: Registry) -> tuple[np.ndarray, np.ndarray]:
        """Instances and failed instances per flow code."""
        assert self.fam is not None
        groups = len(registry.flows)
        count = np.zeros(groups, np.int64)
        found = self.fam.counts()
        count[: found.size] = found
        failed_codes = np.concatenate([self._ids.codes_of(self._failed_ids()), _concat(self._lone_failed)])
        failed = bincount(failed_codes.astype(np.int64), minlength=groups)[:groups]
        return count, failed

    def summary(self, registry: Registry) -> dict[str, dict[str, Any]]:
        """``{flow: {"count", "ok", "failed", "flow_ms": {p50 ... max, mean, min}}}`` by
        flow name; {} when no row carries ``flow_ns``."""
        assert self.fam is not None
        count, failed = self.counts(registry)
        if not count.any():
            return {}
        latency = stats(self.fam)
        names = registry.flows.names
        return {names[g]: {"count": int(count[g]), "ok": int(count[g] - failed[g]), "failed": int(failed[g]),
                           "flow_ms": latency[g]}
                for g in sorted(np.flatnonzero(count).tolist(), key=lambda i: names[i])}

    def columns_by_flow(self, registry: Registry, groups: int) -> dict[str, np.ndarray]:
        """``flows flows_ok flows_failed`` and ``flow_<p>_ms`` per group of ``by="flow"``
        (group 0: rows outside any flow)."""
        assert self.fam is not None
        count, failed = (np.concatenate([[0], c])[:groups] for c in self.counts(registry))
        count, failed = (np.pad(c, (0, groups - c.size)) for c in (count, failed))
        percentiles = ms(table(self.fam, BREAKDOWN_QUANTILES.values()))
        shifted = np.full((groups, len(BREAKDOWN_QUANTILES)), np.nan)
        shifted[1 : 1 + percentiles.shape[0]] = percentiles[: groups - 1]
        out: dict[str, np.ndarray] = {"flows": count, "flows_ok": count - failed, "flows_failed": failed}
        out.update({f"flow_{key}_ms": shifted[:, i] for i, key in enumerate(BREAKDOWN_QUANTILES)})
        top = np.full(groups, np.nan)
        found = ms(maxima(self.fam))
        top[1 : 1 + found.size] = found[: groups - 1]
        out["flow_max_ms"] = top
        return out
