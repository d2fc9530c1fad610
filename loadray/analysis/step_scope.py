"""The figures of one step, for the thresholds scoped to it (``p99{step=login} < 200ms``).

A scoped threshold is judged over its step's rows only, with the run's own rules
(:mod:`.thresholds`): the same measures read a summary-like dict of the step instead of
the run's. Nothing is folded twice: latency comes from the summary's per-step view of
the (step, phase) family (the report's step table); service time and time to first
byte get a per-step family only when a scoped threshold reads them. Counts come from
the run's :class:`~.counts.Counts` by step.

=====================  ====================================================
scoped metric          value over the step's rows
=====================  ====================================================
``pNN max mean``       of latency (``service_*``, ``ttfb_*``: of those)
``error_rate``         errors / completed
``rate``               the step's sends / the run's duration (req/s)
``dropped``, ``cut``   the step's dropped / cut rows
=====================  ====================================================

A step with no rows has no figure at all: every threshold scoped to it fails ("a run
that measured nothing never passes"), ``dropped{step=x} < 1`` included.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .arrays import split_classes
from .groupings import BY_STEP
from .percentiles import QUANTILES, ms
from .quantiles import require, stats, table
from .thresholds import percentiles_judged

if TYPE_CHECKING:
    from loadray.metric import Threshold

    from .batch import Registry
    from .counts import Counts
    from .rank_view import View
    from .stream import Stream

__all__ = ["StepScopes"]

_OWN_FAMILY = ("service", "ttfb")  # latency: the summary's per-step view


class StepScopes:
    """Per-step figures for the scoped thresholds of a :class:`~.summary.SummaryFold`."""

    def __init__(self, thresholds: Iterable[Threshold]) -> None:
        self.thresholds = [t for t in thresholds if t.rule.step is not None]
        self.families: dict[str, View] = {}
        self._stats: dict[str, list[dict[str, Any]]] = {}

    def declare(self, stream: Stream, latency_by_step: View) -> None:
        if not self.thresholds:
            return
        self.families["latency"] = latency_by_step
        track = [q / 100 for q in QUANTILES.values()]
        for of in _OWN_FAMILY:
            if any(t.rule.metric.of == of for t in self.thresholds):
                qs = [q / 100 for q in percentiles_judged(self.thresholds, of, scoped=True)]
                self.families[of] = stream.family(of, BY_STEP, track + qs, True)

    def require(self) -> None:
        for of, fam in self.families.items():
            if of != "latency":
                require(fam)  # the latency view is required by the summary already
            qs = percentiles_judged(self.thresholds, of, scoped=True)
            if qs:
                require(fam, qs)

    def scope(self, step: str, registry: Registry, counts: Counts, duration_s: float) -> tuple[Any, dict[str, Any]]:
        """``(percentile, figures)`` of ``step`` for :func:`~.thresholds.evaluate`:
        ``percentile(of, q)`` in ms and the summary-like dict; ``{}`` when no row has it."""
        names = registry.step_labels()
        key = names.index(step) if step in names else -1
        if key < 0:
            return _nothing, {}
        by_step = counts.step_classes(registry)
        dropped, cut, errors, ok = (int(v[key]) for v in split_classes(by_step))
        if not dropped + cut + errors + ok:
            return _nothing, {}
        completed, sent = errors + ok, ok + errors + cut
        figures: dict[str, Any] = {
            "completed": completed, "error_rate": errors / completed if completed else 0.0,
            "dropped": dropped, "cut": cut, "duration_s": duration_s,
            "rate": round(sent / duration_s, 3) if duration_s > 0 else 0.0,
        }
        for of in self.families:
            if of not in self._stats:
                self._stats[of] = stats(self.families[of])
            rows = self._stats[of]
            figures[f"{of}_ms"] = rows[key] if key < len(rows) else {}
        return lambda of, q: self._percentile(of, q, key), figures

    def _percentile(self, of: str, q: float, key: int) -> float | None:
        fam = self.families.get(of)
        if fam is None or key >= fam.counts().size or not fam.counts()[key]:
            return None
        return float(ms(table(fam, [q]))[key, 0])


def _nothing(of: str, q: float) -> None:
    return None
