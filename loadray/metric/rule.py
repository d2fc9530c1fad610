"""A rule ``metric op value`` and the two scenario items built on it: a
:class:`Threshold` (``thresholds:``) and a :class:`Breaker` (``abort_when:``).

The comparison operators are defined here once (:data:`OPS`); both evaluators — the
final one over the rows (:mod:`loadray.analysis.thresholds`) and the live one over
the merged heartbeats (:mod:`loadray.live.rules`) — ask :meth:`Rule.holds`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from loadray.metric.metric import Metric, parse_metric

Op = Literal["<", "<=", ">", ">="]
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Rule:
    """``metric op value`` with ``value`` in the metric's unit (ms for times, a
    fraction for rates of errors, requests/s for ``rate``, a count for counts).

    ``step``: the rule is judged over that step's rows only (the name rows carry in
    their ``step`` column: a request's name, ``FLOW/STEP`` for a flow's step); None:
    over the whole run."""

    metric: Metric
    op: Op
    value: float
    step: str | None = None

    @property
    def scoped_name(self) -> str:
        """The metric with its scope, as the one string form writes it: ``p99{step=login}``."""
        return self.metric.name if self.step is None else f"{self.metric.name}{{step={self.step}}}"

    @classmethod
    def of(cls, metric: str, op: Op, value: float) -> Rule:
        """By the metric's name: ``Rule.of("p99", "<", 500.0)`` (value in its unit)."""
        parsed = parse_metric(metric)
        if parsed is None or op not in OPS:
            raise ValueError(f"not a rule: {metric} {op} {value}")
        return cls(parsed, op, value)

    def holds(self, measured: float | None) -> bool:
        """Whether ``measured`` satisfies the rule; never without data (None)."""
        return measured is not None and bool(OPS[self.op](measured, self.value))

    def __str__(self) -> str:
        return f"{self.scoped_name} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Threshold:
    """``expr`` as written and its :class:`Rule`; the run passes when the rule holds.

    With ``abort_on_fail`` a failure seen live (over the ``live`` window; over its step's
    rows when the rule is scoped to one) stops the whole run, but not before ``delay_s``
    seconds after its start (a grace period).
    """

    expr: str
    rule: Rule
    abort_on_fail: bool = False
    delay_s: float = 0.0


@dataclass(frozen=True)
class Breaker:
    """A circuit breaker (``abort_when``): the run is stopped, to protect the target,
    once its rule has held in each of ``for_s`` consecutive seconds.

    Note the sense: a threshold fails when its rule does not hold, a breaker trips when
    its rule holds.
    """

    expr: str
    rule: Rule
    for_s: float
