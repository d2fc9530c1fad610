"""The live evaluator of thresholds and circuit breakers, run by the coordinator once
a second over the merged heartbeats (:class:`~loadray.live.board.Board`). It reads
the same :class:`~loadray.metric.Metric` as the final evaluator over the rows
(:mod:`loadray.analysis.thresholds`) and agrees with it on the same rows, percentiles
within the histograms' 1% buckets.

- A threshold is judged over the sliding ``live.window`` (a count, ``dropped``, over
  the run so far, as the final verdict counts it); one marked ``abort_on_fail`` stops
  the run once it fails after its ``delay``. A threshold on a metric not measured live
  (``cut``) is left to the final verdict (the scenario refuses it with abort_on_fail).
- A breaker (``abort_when: "error_rate > 50% for 5s"``) stops the run once its rule
  held in each of the last ``for`` seconds of the run. Every complete second is
  judged once, in order, even when a check comes late; a second nobody reported on
  (or without data for the metric) neither counts nor breaks the streak.
- A rule scoped to a step (``p99{step=slow} < 300ms``) is judged the same way on that
  step's own board (:meth:`~loadray.live.board.Board.scope`): the figures of the rows
  whose ``step`` is its name, which workers report only for the steps named by such a
  live rule (:func:`live_steps`). A scoped threshold without ``abort_on_fail`` is left
  to the final verdict (it alone keeps no live figures for its step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from loadray.live.board import Board, Window
from loadray.live.histogram import LogHistogram
from loadray.metric import Breaker, Metric, Threshold

BreachKind = Literal["threshold", "breaker"]


@dataclass(frozen=True)
class Breach:
    kind: BreachKind
    expr: str
    value: float | None
    at_s: float  # seconds since the start
    step: str | None = None  # the step the rule is scoped to


def live_steps(thresholds: Sequence[Threshold], breakers: Sequence[Breaker]) -> tuple[str, ...]:
    """The steps whose figures workers report live: those an ``abort_on_fail`` threshold
    or a breaker is scoped to, in first-named order (none: nothing is kept per step)."""
    rules = [t.rule for t in thresholds if t.abort_on_fail and t.rule.metric.live] + [b.rule for b in breakers]
    return tuple(dict.fromkeys(r.step for r in rules if r.step is not None))


def _scoped(step: str | None) -> str:
    return "" if step is None else f" on step {step!r}"


def _times(m: Metric, w: Window) -> LogHistogram:
    return getattr(w, m.of or "latency")


def _percentile(m: Metric, w: Window) -> float | None:
    ns = _times(m, w).quantile_ns((m.q or 0.0) / 100.0)
    return None if ns is None else ns / 1e6


def _max(m: Metric, w: Window) -> float | None:
    h = _times(m, w)
    return h.max_ns / 1e6 if h.count else None


def _mean(m: Metric, w: Window) -> float | None:
    h = _times(m, w)
    return h.total_ns / h.count / 1e6 if h.count else None


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


_MEASURES: dict[str, Callable[[Metric, Window], float | None]] = {
    "percentile": _percentile,
    "max": _max,
    "mean": _mean,
    "error_rate": lambda m, w: _ratio(w.rows.errors, w.rows.completed),
    "flow_error_rate": lambda m, w: _ratio(w.rows.flows_failed, w.rows.flows),
    "rate": lambda m, w: w.rows.sent / w.seconds if w.seconds and w.reports else None,
    "dropped": lambda m, w: float(w.rows.dropped) if w.reports else None,
}


def measure(metric: Metric, w: Window) -> float | None:
    """``metric`` over a window, in its unit (ms, fraction, req/s, count); None without
    data, and for a metric not measured live."""
    read = _MEASURES.get(metric.kind)
    return None if read is None else read(metric, w)


class Rules:
    def __init__(self, thresholds: Sequence[Threshold], breakers: Sequence[Breaker], window_s: float) -> None:
        # a scoped threshold without abort_on_fail is judged at the end only (see live_steps)
        self.thresholds = [t for t in thresholds if t.rule.metric.live and (t.rule.step is None or t.abort_on_fail)]
        self.breakers = list(breakers)
        self.window_s = max(1, math.ceil(window_s))
        self._failing: set[str] = set()
        self._streak: dict[str, int] = {b.expr: 0 for b in self.breakers}
        self._next_second = 0  # the first second of the run no breaker has judged yet

    def check(self, board: Board, now_ns: int) -> tuple[list[Breach], str | None]:
        """New breaches since the last check, and the reason to abort (None: go on)."""
        at_s = (now_ns - board.start_ns) / 1e9
        breaches, aborts = self._judge_thresholds(board, now_ns, at_s)
        more, tripped = self._judge_breakers(board, now_ns, at_s)
        return breaches + more, next(iter(aborts + tripped), None)

    def _judge_thresholds(self, board: Board, now_ns: int, at_s: float) -> tuple[list[Breach], list[str]]:
        breaches, aborts = [], []
        windows: dict[str | None, Window] = {}
        for t in self.thresholds:
            step, scope = t.rule.step, board.scope(t.rule.step)
            if t.rule.metric.is_count:
                value = measure(t.rule.metric, scope.so_far(now_ns))
            else:
                if step not in windows:
                    windows[step] = scope.window(now_ns, self.window_s)
                value = measure(t.rule.metric, windows[step])
            failing = value is not None and not t.rule.holds(value)
            if failing and t.expr not in self._failing:
                breaches.append(Breach("threshold", t.expr, value, at_s, step))
            if failing:
                self._failing.add(t.expr)
            else:
                self._failing.discard(t.expr)
            if failing and t.abort_on_fail and at_s >= t.delay_s:
                aborts.append(f"threshold {t.expr!r} failed{_scoped(step)} ({_fmt(value)}) and is abort_on_fail")
        return breaches, aborts

    def _judge_breakers(self, board: Board, now_ns: int, at_s: float) -> tuple[list[Breach], list[str]]:
        """Each complete second not judged yet, in order."""
        breaches, tripped = [], []
        current = board.second_of(now_ns)
        for second in range(self._next_second, current):
            windows: dict[str | None, Window] = {}
            for b in self.breakers:
                step = b.rule.step
                if step not in windows:
                    windows[step] = board.scope(step).span(second, second)
                value = measure(b.rule.metric, windows[step])
                if value is None:
                    continue  # nothing known of this second: the streak stays as it is
                self._streak[b.expr] = self._streak[b.expr] + 1 if b.rule.holds(value) else 0
                if self._streak[b.expr] == math.ceil(b.for_s):
                    breaches.append(Breach("breaker", b.expr, value, at_s, step))
                    tripped.append(f"circuit breaker {b.expr!r} tripped{_scoped(step)} ({_fmt(value)})")
        self._next_second = max(self._next_second, current)
        return breaches, tripped


def _fmt(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"
