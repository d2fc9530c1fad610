"""Pass/fail of scenario thresholds against a run's numbers.

A threshold (:class:`loadray.scenario.model.Threshold`) is ``metric op value`` with the
value already in the metric's summary unit:

============================  ==========================================  ============
metric                        measured value                              unit
============================  ==========================================  ============
``pNN``, ``pNN.N``            exact percentile of latency (completed)     ms
``max``, ``mean``, ``min``    of latency (completed rows)                 ms
``service_pNN``, ``service_max``, ``service_mean``  same, of service time ms
``error_rate``                errors / completed                          fraction
``flow_error_rate``           failed flow instances / flow instances      fraction
                              (a step that passed on a retry did not fail)
``rate``                      achieved sends/s                            req/s
``dropped``                   requests never sent                         count
============================  ==========================================  ============

Other numeric top-level summary keys (``cut``, ``errors``, ``intended_rate``...) work too.
When there is no data (no completed request for a latency or ``error_rate``, zero
duration for ``rate``) the value is None and the threshold fails.

The value compared is the one reported (rounded like the summary), so the verdict
always agrees with the number shown.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Iterable

import pyarrow as pa

from .percentiles import percentile_ms, quantile_key

if TYPE_CHECKING:
    from loadray.scenario.model import Threshold

__all__ = ["evaluate", "measure", "OPS"]

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_PCT = re.compile(r"^(service_)?p(\d+(?:\.\d+)?)$")
_STAT = re.compile(r"^(service_)?(max|mean|min)$")


def _arrays(table_or_arrays: Any) -> dict[str, Any]:
    """Completed-row latency/service arrays (ns) from a table, SampleArrays or mapping;
    from SampleArrays as callables, so a sort happens only when a threshold needs it."""
    if table_or_arrays is None:
        return {"latency_ns": None, "service_ns": None}
    if isinstance(table_or_arrays, pa.Table):
        from .arrays import sample_arrays

        table_or_arrays = sample_arrays(table_or_arrays)
    if isinstance(table_or_arrays, Mapping):
        return {
            "latency_ns": table_or_arrays.get("latency_ns"),
            "service_ns": table_or_arrays.get("service_ns"),
        }
    # SampleArrays
    return {
        "latency_ns": table_or_arrays.completed_latency_ns,
        "service_ns": table_or_arrays.completed_service_ns,
    }


def flow_error_rate(flows: Mapping[str, Mapping[str, Any]]) -> float | None:
    """Failed flow instances over all of them; None without flows."""
    count = sum(f["count"] for f in flows.values())
    return sum(f["failed"] for f in flows.values()) / count if count else None


def measure(metric: str, arrays: Mapping[str, Any], summary: Mapping[str, Any]) -> float | None:
    """The value of ``metric`` for this run, in its summary unit; None without data."""
    m = _PCT.match(metric)
    if m:
        which = "service" if m.group(1) else "latency"
        q = float(m.group(2))
        if not 0.0 <= q <= 100.0:
            return None
        stats = summary.get(f"{which}_ms") or {}
        key = quantile_key(q)
        if key in stats:
            return stats[key]
        values = arrays.get(f"{which}_ns")
        if callable(values):
            values = values()
        if values is None:
            return None
        return percentile_ms(values, q)
    m = _STAT.match(metric)
    if m:
        which = "service" if m.group(1) else "latency"
        return (summary.get(f"{which}_ms") or {}).get(m.group(2))
    if metric == "error_rate":
        return summary.get("error_rate") if summary.get("completed", 0) else None
    if metric == "flow_error_rate":
        return flow_error_rate(summary.get("flows") or {})
    if metric in ("rate", "intended_rate"):
        return summary.get(metric) if (summary.get("duration_s") or 0) > 0 else None
    value = summary.get(metric)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None


def evaluate(
    thresholds: Iterable["Threshold"],
    table_or_arrays: Any,
    summary: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """``[{"expr", "value", "passed"}, ...]`` in the order given.

    ``table_or_arrays`` is the sample table, a :class:`~loadray.analysis.arrays.SampleArrays`,
    or a mapping ``{"latency_ns": ..., "service_ns": ...}`` of completed rows (used only
    for percentiles that are not already in ``summary``).
    """
    thresholds = list(thresholds)
    if not thresholds:
        return []
    arrays = _arrays(table_or_arrays)
    out = []
    for t in thresholds:
        value = measure(t.metric, arrays, summary)
        op = OPS.get(t.op)
        if op is None:
            raise ValueError(f"{t.expr}: unknown operator {t.op!r}")
        passed = value is not None and bool(op(value, t.value))
        out.append({"expr": t.expr, "value": value, "passed": passed})
    return out
