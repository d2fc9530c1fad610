"""The final evaluator of thresholds: each :class:`~loadray.metric.Rule` against the
run's numbers, exact, from the rows (the live evaluator, :mod:`loadray.live.rules`,
reads the same metrics from the merged heartbeats).

==========================  =================================================  ========
metric                      value                                              unit
==========================  =================================================  ========
``pNN``, ``max``, ``mean``  of latency over the completed rows (exact)         ms
``service_*``               the same of service time                           ms
``error_rate``              errors / completed                                 fraction
``flow_error_rate``         failed flow instances / flow instances             fraction
                            (a step that passed on a retry did not fail)
``rate``                    achieved sends/s                                   req/s
``dropped``, ``cut``        requests never sent / in flight at the stop        count
==========================  =================================================  ========

A threshold scoped to a step (``p99{step=login} < 200ms``) reads the same measures over
that step's figures (:mod:`.step_scope`).

Without data (no completed request for a time statistic or ``error_rate``, no flow
instance for ``flow_error_rate``, zero duration for ``rate``) the value is None and
the threshold fails. The value compared is the one reported (rounded like the
summary), so the verdict always agrees with the number shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pyarrow as pa

from loadray.metric import Metric, Threshold

from .percentiles import percentile_ms, quantile_key

__all__ = ["evaluate", "flow_error_rate", "measure", "percentiles_judged"]

Arrays = Mapping[str, Any]
Summary = Mapping[str, Any]


def _arrays(table_or_arrays: Any) -> dict[str, Any]:
    """Completed-row latency/service arrays (ns) from a table, SampleArrays or mapping;
    from SampleArrays as callables, so a sort happens only when a threshold needs it;
    a plain callable ``(of, q) -> ms`` (the streaming summary's exact percentiles) as is."""
    if callable(table_or_arrays) and not isinstance(table_or_arrays, Mapping):
        return {"percentile": table_or_arrays}
    if table_or_arrays is None:
        return {"latency": None, "service": None}
    if isinstance(table_or_arrays, pa.Table):
        from .arrays import sample_arrays

        table_or_arrays = sample_arrays(table_or_arrays)
    if isinstance(table_or_arrays, Mapping):
        return {"latency": table_or_arrays.get("latency_ns"), "service": table_or_arrays.get("service_ns")}
    return {"latency": table_or_arrays.completed_latency_ns, "service": table_or_arrays.completed_service_ns}


def percentiles_judged(thresholds: Iterable[Threshold], of: str, scoped: bool = False) -> list[float]:
    """The percentiles (0..100) of ``of`` (latency, service, ttfb, ttft) that ``thresholds``
    judge over the whole run (``scoped``: over a step, ``p99{step=login}``)."""
    return [t.rule.metric.q or 0.0 for t in thresholds
            if t.rule.metric.kind == "percentile" and (t.rule.metric.of or "latency") == of
            and (t.rule.step is not None) == scoped]


def flow_error_rate(flows: Mapping[str, Mapping[str, Any]]) -> float | None:
    """Failed flow instances over all of them; None without flows."""
    count = sum(f["count"] for f in flows.values())
    return sum(f["failed"] for f in flows.values()) / count if count else None


def _percentile(m: Metric, arrays: Arrays, summary: Summary) -> float | None:
    stats = summary.get(f"{m.of}_ms") or {}
    key = quantile_key(m.q or 0.0)
    if key in stats:
        return stats[key]
    if "percentile" in arrays:
        return arrays["percentile"](m.of or "latency", m.q)
    values = arrays.get(m.of or "latency")
    if callable(values):
        values = values()
    return None if values is None else percentile_ms(values, m.q or 0.0)


def _stat(m: Metric, arrays: Arrays, summary: Summary) -> float | None:
    return (summary.get(f"{m.of}_ms") or {}).get(m.kind)


def _count(m: Metric, arrays: Arrays, summary: Summary) -> float | None:
    value = summary.get(m.kind)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


_MEASURES: dict[str, Callable[[Metric, Arrays, Summary], float | None]] = {
    "percentile": _percentile,
    "max": _stat,
    "mean": _stat,
    "error_rate": lambda m, a, s: s.get("error_rate") if s.get("completed", 0) else None,
    "flow_error_rate": lambda m, a, s: flow_error_rate(s.get("flows") or {}),
    "rate": lambda m, a, s: s.get("rate") if (s.get("duration_s") or 0) > 0 else None,
    "dropped": _count,
    "cut": _count,
}


def measure(metric: Metric, arrays: Arrays, summary: Summary) -> float | None:
    """The value of ``metric`` for this run, in its unit; None without data.
    ``arrays``: ``{"latency": ..., "service": ...}`` completed-row ns (or callables)."""
    return _MEASURES[metric.kind](metric, arrays, summary)


def evaluate(thresholds: Iterable[Threshold], table_or_arrays: Any, summary: Summary,
             steps: Callable[[str], tuple[Any, Summary]] | None = None) -> list[dict[str, Any]]:
    """``[{"expr", "value", "passed"}, ...]`` in the order given (and ``"step"``, the
    step's name, for a threshold scoped to one).

    ``table_or_arrays`` is the sample table, a :class:`~loadray.analysis.arrays.SampleArrays`,
    a mapping ``{"latency_ns": ..., "service_ns": ...}`` of completed rows, or a function
    ``(of, q) -> ms`` (used only for percentiles that are not already in ``summary``).
    ``steps(name)``: the same pair for one step, for the thresholds scoped to it
    (:class:`~.step_scope.StepScopes`); without it a scoped threshold has no value and fails.
    """
    thresholds = list(thresholds)
    if not thresholds:
        return []
    arrays = _arrays(table_or_arrays)
    out = []
    for t in thresholds:
        if t.rule.step is None:
            value = measure(t.rule.metric, arrays, summary)
            out.append({"expr": t.expr, "value": value, "passed": t.rule.holds(value)})
        else:
            value = _scoped(t, steps)
            out.append({"expr": t.expr, "value": value, "passed": t.rule.holds(value), "step": t.rule.step})
    return out


def _scoped(t: Threshold, steps: Callable[[str], tuple[Any, Summary]] | None) -> float | None:
    """The value of a threshold scoped to a step, over that step's figures only."""
    if steps is None or t.rule.step is None:
        return None
    table_or_arrays, figures = steps(t.rule.step)
    return measure(t.rule.metric, _arrays(table_or_arrays), figures) if figures else None
