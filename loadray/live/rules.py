"""Live thresholds and circuit breakers, evaluated by the coordinator every second.

Thresholds are judged over a sliding window (``live.window``); one marked
``abort_on_fail`` stops the run once it fails after its ``delay``. A breaker
(``abort_when: "error_rate > 50% for 5s"``) stops the run when its condition holds
for every one of the last ``for`` seconds. Final verdicts still come from the rows.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Sequence

from loadray.live.board import Board, Window

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_PERCENTILE = re.compile(r"^p(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Breach:
    kind: str  # "threshold" | "breaker"
    expr: str
    value: float | None
    at_s: float  # seconds since the start


def measure(metric: str, w: Window) -> float | None:
    """A metric over a window, in the scenario's units (ms, fraction, req/s, count)."""
    if metric == "error_rate":
        return w.error_rate if w.done else None
    if metric == "rate":
        return w.rate
    if metric == "dropped":
        return float(w.dropped)
    h = w.latency
    if h.count == 0:
        return None
    if metric == "max":
        return h.max_ns / 1e6
    if metric == "mean":
        return h.total_ns / h.count / 1e6
    m = _PERCENTILE.match(metric)
    if m:
        return h.quantile_ns(float(m.group(1)) / 100.0) / 1e6
    return None  # service_* and others are not measured live


class Rules:
    def __init__(self, thresholds: Sequence, breakers: Sequence, window_s: float) -> None:
        self.thresholds = list(thresholds)
        self.breakers = list(breakers)
        self.window_s = max(1, math.ceil(window_s))
        self._failing: set[str] = set()
        self._streak: dict[str, int] = {}

    def check(self, board: Board, now_ns: int) -> tuple[list[Breach], str | None]:
        """New breaches since the last check, and the reason to abort (None: go on)."""
        at_s = (now_ns - board.start_ns) / 1e9
        breaches, abort = [], None
        window = board.window(now_ns, self.window_s)
        for t in self.thresholds:
            value = measure(t.metric, window)
            failing = value is not None and not OPS[t.op](value, t.value)
            if failing and t.expr not in self._failing:
                breaches.append(Breach("threshold", t.expr, value, at_s))
            self._failing.discard(t.expr) if not failing else self._failing.add(t.expr)
            if failing and t.abort_on_fail and at_s >= t.delay_s and abort is None:
                abort = f"threshold {t.expr!r} failed ({_fmt(value)}) and is abort_on_fail"
        last_second = board.window(now_ns, 1)
        for b in self.breakers:
            value = measure(b.metric, last_second)
            tripped = value is not None and OPS[b.op](value, b.value)
            self._streak[b.expr] = self._streak.get(b.expr, 0) + 1 if tripped else 0
            if self._streak[b.expr] == math.ceil(b.for_s):
                breaches.append(Breach("breaker", b.expr, value, at_s))
            if self._streak[b.expr] >= math.ceil(b.for_s) and abort is None:
                abort = f"circuit breaker {b.expr!r} tripped ({_fmt(value)})"
        return breaches, abort


def _fmt(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"
