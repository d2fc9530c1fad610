"""How the streaming analysis groups rows, and which values it ranks.

A :class:`Grouping` gives every row of a :class:`~.batch.Batch` a group key (small
ints meaning the same in every batch of a pass) and names the groups once the pass is
done; a *metric* picks the rows and values a percentile is over (``latency``,
``service``, ``lag``, ``flow``). Both say which columns they read, so a second pass
decodes only those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .arrays import SampleArrays
from .batch import Batch, Registry

__all__ = ["ALL", "BY_STEP", "STEP_PHASE", "Bucket", "Grouping", "METRICS", "by", "step_phase_views"]

NO_ERROR = "(none)"
NO_FLOW = "(none)"


@dataclass(frozen=True)
class Grouping:
    """``keys(batch)`` (int64, or None: every row in group 0) and ``labels(registry)``."""

    name: str
    columns: frozenset[str]
    keys: Callable[[Batch], np.ndarray | None]
    labels: Callable[[Registry], list[Any]]
    size_hint: int = 64  # expected groups (sizes the histograms)


def _users(registry: Registry) -> list[Any]:
    return [pd.NA if v == -1 else v for v in registry.users.values]


def _values(space: str) -> Callable[[Registry], list[Any]]:
    return lambda r: list(getattr(r, space).values)


ALL = Grouping("all", frozenset(), lambda b: None, lambda r: ["all"], 1)
BY_STEP = Grouping("step", frozenset({"step"}), lambda b: b.step_keys, lambda r: r.step_labels())
_BY = {
    None: ALL,
    "step": BY_STEP,
    "error": Grouping("error", frozenset({"error"}), lambda b: b.error_keys, lambda r: r.error_labels(NO_ERROR)),
    "phase": Grouping("phase", frozenset({"phase"}), lambda b: b.value_keys("phase"), _values("phases"), 16),
    "worker": Grouping("worker", frozenset({"worker"}), lambda b: b.value_keys("worker"), _values("workers")),
    "status": Grouping("status", frozenset({"status"}), lambda b: b.value_keys("status"), _values("statuses"), 16),
    "attempt": Grouping("attempt", frozenset({"attempt"}), lambda b: b.value_keys("attempt"), _values("attempts"), 8),
    "user": Grouping("user", frozenset({"user"}), lambda b: b.user_keys, _users, 1024),
    "flow": Grouping("flow", frozenset({"step", "flow_id", "flow_ns"}), lambda b: b.flow_keys,
                     lambda r: [NO_FLOW, *r.flows.names]),
    # the flow of an instance's last row (no "outside" group): what flow percentiles group by
    "flow_name": Grouping("flow_name", frozenset({"step"}),
                          lambda b: b.step_flows[b.step_keys], lambda r: list(r.flows.names)),
}


#: (step, phase) pairs: read per step, per phase and as a whole (:func:`step_phase_views`)
STEP_PHASE = Grouping("step_phase", frozenset({"step", "phase"}), lambda b: b.pair_keys, lambda r: [], 256)


def step_phase_views(registry: Registry) -> dict[Grouping, Callable[[np.ndarray], np.ndarray]]:
    """The groupings a (step, phase) family is read by, as maps from its pair codes."""
    return {
        ALL: lambda keys: np.zeros(keys.size, np.int64),
        BY_STEP: lambda keys: np.asarray(registry.pair_steps, np.int64)[keys],
        _BY["phase"]: lambda keys: np.asarray(registry.pair_phases, np.int64)[keys],
    }


def by(name: str | None) -> Grouping:
    """The grouping of a breakdown ``by`` (None: the whole run)."""
    return _BY[name]


class Bucket:
    """Time buckets of ``bucket_ns`` from ``start_ns``: a row's bucket by intended (or
    sent) time, before the start in bucket 0, after the last (when ``count`` is known)
    in the last."""

    def __init__(self, start_ns: int, bucket_ns: int, count: int | None) -> None:
        self.start_ns, self.bucket_ns, self.count = int(start_ns), int(bucket_ns), count

    def of(self, ns: np.ndarray) -> np.ndarray:
        b = ns - self.start_ns
        b //= self.bucket_ns
        np.clip(b, 0, None if self.count is None else self.count - 1, out=b)
        return b

    def grouping(self) -> Grouping:
        return Grouping(f"bucket:{self.start_ns}:{self.bucket_ns}:{self.count}", frozenset({"intended_ns"}),
                        lambda b: self.of(b.a.intended_ns), lambda r: [], self.count or 1024)


def _lag(a: SampleArrays) -> tuple[np.ndarray, np.ndarray]:
    """First attempts that were sent (a retry waits for its backoff on purpose)."""
    rows = a.has_sent_ns & (a.attempt == 1)
    lag = a.sent_ns - a.intended_ns
    return rows, lag[rows]


#: metric -> (columns read, arrays -> (row mask, values of those rows))
METRICS: dict[str, tuple[frozenset[str], Callable[[SampleArrays], tuple[np.ndarray, np.ndarray]]]] = {
    "latency": (frozenset({"latency_ns", "error"}), lambda a: (a.has_latency, a.latency_ns[a.has_latency])),
    "service": (frozenset({"service_ns", "error"}), lambda a: (a.has_service, a.service_ns[a.has_service])),
    "lag": (frozenset({"sent_ns", "intended_ns", "error", "attempt"}), _lag),
    "flow": (frozenset({"flow_ns"}), lambda a: (a.has_flow_ns, a.flow_ns[a.has_flow_ns])),
    "ttfb": (frozenset({"ttfb_ns", "error"}), lambda a: (a.has_ttfb, a.ttfb_ns[a.has_ttfb])),
}
#: metric -> the column whose statistics bound its values (lag: latency's upper bound)
RANGE_COLUMN = {"latency": "latency_ns", "service": "service_ns", "lag": "latency_ns", "flow": "flow_ns",
                "ttfb": "ttfb_ns"}
