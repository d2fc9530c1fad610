"""Run-to-run comparison of two summaries: key figures with their change, and a gate.

Gates (a regression fails the comparison):

- ``max_p99_increase`` (fraction, relative): fails when the new run's corrected p99
  latency exceeds the base run's by more than this (0.10 = 10%);
- ``max_error_rate_increase`` (fraction, absolute): fails when the new error rate
  exceeds the base's by more than this many points (0.01 = one percentage point);

``None`` turns a gate off. A gate with a figure missing (no completed request) fails.
One gate is always on: both runs ran their course (:func:`cut_short`): the figures of a
run stopped early, interrupted, or whose generator failed cover only part of its plan,
and a comparison of them says nothing of a regression.

Given the two runs' scenario documents, the comparison also lists where they differ
(``scenario_differences``): a warning, not a gate (comparing two targets, or two loads,
on purpose is fine, by accident it is not like for like).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = [
    "DEFAULT_MAX_ERROR_RATE_INCREASE",
    "DEFAULT_MAX_P99_INCREASE",
    "KEY_FIGURES",
    "Comparison",
    "Gate",
    "compare_summaries",
    "cut_short",
    "scenario_differences",
]

DEFAULT_MAX_P99_INCREASE = 0.10
DEFAULT_MAX_ERROR_RATE_INCREASE = 0.01
_EPS = 1e-12  # a change of exactly the limit passes despite float rounding

#: (row label, summary key, sub-key or None, unit) of the comparison table, in order.
KEY_FIGURES: tuple[tuple[str, str, str | None, str], ...] = (
    ("intended", "intended", None, "count"),
    ("sent", "sent", None, "count"),
    ("dropped", "dropped", None, "count"),
    ("errors", "errors", None, "count"),
    ("error rate", "error_rate", None, "fraction"),
    ("rate", "rate", None, "req/s"),
    ("duration", "duration_s", None, "s"),
    ("latency p50", "latency_ms", "p50", "ms"),
    ("latency p90", "latency_ms", "p90", "ms"),
    ("latency p99", "latency_ms", "p99", "ms"),
    ("latency p99.9", "latency_ms", "p999", "ms"),
    ("latency max", "latency_ms", "max", "ms"),
    ("service p50", "service_ms", "p50", "ms"),
    ("service p99", "service_ms", "p99", "ms"),
)


@dataclass(frozen=True)
class Gate:
    """One regression check: ``change`` (relative for p99, absolute for the error
    rate) must be <= ``limit``."""

    name: str
    expr: str
    base: float | None
    new: float | None
    change: float | None
    limit: float
    passed: bool
    detail: str = ""  # why it failed, when no figure says it


@dataclass(frozen=True)
class Comparison:
    """``table``: one row per key figure (index ``figure``) with ``unit base new change
    change_pct``; ``gates``; ``passed`` when every gate passed."""

    base: str
    new: str
    table: pd.DataFrame
    gates: tuple[Gate, ...]
    scenario_differences: tuple[str, ...] = ()  # "load.phases[0].rate: 200 → 400"

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def _repr_html_(self) -> str:  # Jupyter
        gates = "".join(f"<li>{'✓' if g.passed else '✗'} {g.expr}</li>" for g in self.gates)
        verdict = "PASSED" if self.passed else "FAILED"
        return f"<p>{self.base} → {self.new}: <b>{verdict}</b></p><ul>{gates}</ul>{self.table.to_html()}"


def _figure(summary: Mapping[str, Any], key: str, sub: str | None) -> float | None:
    value = summary.get(key)
    if sub is not None:
        value = (value or {}).get(sub)
    return None if value is None else float(value)


def _change(base: float | None, new: float | None) -> tuple[float, float]:
    if base is None or new is None:
        return math.nan, math.nan
    return new - base, (new - base) / base * 100.0 if base else math.nan


def cut_short(summary: Mapping[str, Any]) -> str | None:
    """Why a run's figures cover only part of its plan (its generator failed, it was
    stopped early or interrupted), or None when it ran its course."""
    for failure in ("generator_error", "nothing_succeeded", "archive_damaged"):
        if summary.get(failure):
            return str(summary[failure])
    if summary.get("aborted"):
        return f"stopped early: {summary['aborted']}"
    if summary.get("interrupted"):
        return f"interrupted ({summary['interrupted']})"
    return None


def _course_gate(base: Mapping[str, Any], new: Mapping[str, Any], labels: tuple[str, str]) -> Gate:
    why = [f"{label}: {reason}" for label, s in zip(labels, (base, new)) if (reason := cut_short(s))]
    return Gate("complete", "both runs ran their course", None, None, None, 0.0, not why, "; ".join(why))


def _gates(base: Mapping[str, Any], new: Mapping[str, Any], max_p99: float | None, max_err: float | None) -> list[Gate]:
    gates = []
    if max_p99 is not None:
        b, n = _figure(base, "latency_ms", "p99"), _figure(new, "latency_ms", "p99")
        rel = None if b is None or n is None or b <= 0 else (n - b) / b
        passed = rel <= max_p99 + _EPS if rel is not None else (b is not None and n is not None and n <= b)
        gates.append(Gate("p99", f"latency p99 increase <= {max_p99 * 100:g}%", b, n, rel, max_p99, passed))
    if max_err is not None:
        b, n = _figure(base, "error_rate", None), _figure(new, "error_rate", None)
        if not base.get("completed", 1) or not new.get("completed", 1):
            b = n = None  # no completed request: no error rate
        diff = None if b is None or n is None else n - b
        points = f"{max_err * 100:g} percentage point{'' if max_err == 0.01 else 's'}"
        gates.append(Gate("error_rate", f"error rate increase <= {points}", b, n, diff, max_err,
                          diff is not None and diff <= max_err + _EPS))
    return gates


def compare_summaries(
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    max_p99_increase: float | None = DEFAULT_MAX_P99_INCREASE,
    max_error_rate_increase: float | None = DEFAULT_MAX_ERROR_RATE_INCREASE,
    labels: tuple[str, str] = ("base", "new"),
    scenarios: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
) -> Comparison:
    """Compare two ``summary.json`` dicts (see the module docstring for the gates);
    ``scenarios``: the two runs' scenario documents, to say where they differ."""
    rows = []
    for label, key, sub, unit in KEY_FIGURES:
        b, n = _figure(base, key, sub), _figure(new, key, sub)
        change, pct = _change(b, n)
        rows.append({"figure": label, "unit": unit, "base": b, "new": n, "change": change, "change_pct": pct})
    table = pd.DataFrame(rows).set_index("figure")
    gates = (_course_gate(base, new, labels), *_gates(base, new, max_p99_increase, max_error_rate_increase))
    differences = tuple(scenario_differences(*scenarios)) if scenarios else ()
    return Comparison(labels[0], labels[1], table, gates, differences)


_SHOWN_CHARS = 60
_MISSING = object()  # a key only one document has


def _shown(value: Any) -> str:
    text = "(none)" if value is _MISSING else repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def scenario_differences(base: Any, new: Any, path: str = "") -> list[str]:
    """``"path: base value → new value"`` for every leaf where two scenario documents
    differ (a list of another length is one difference), in document order."""
    if isinstance(base, Mapping) and isinstance(new, Mapping):
        keys = list(base) + [k for k in new if k not in base]
        return [d for k in keys for d in scenario_differences(base.get(k, _MISSING), new.get(k, _MISSING),
                                                               f"{path}.{k}" if path else str(k))]
    if isinstance(base, list) and isinstance(new, list) and len(base) == len(new):
        return [d for i, (b, n) in enumerate(zip(base, new)) for d in scenario_differences(b, n, f"{path}[{i}]")]
    if base is new or base == new:
        return []
    return [f"{path or '(document)'}: {_shown(base)} → {_shown(new)}"]
