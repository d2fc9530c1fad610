"""What a threshold or a circuit breaker measures: a typed :class:`Metric`.

==============================  =============================================  ========
name                            measured over the rows of completed requests   unit
==============================  =============================================  ========
``pNN`` (``p99``, ``p99.9``)    percentile of latency (corrected)              ms
``max``, ``mean``               of latency                                     ms
``service_pNN``                 percentile of service time (done - sent)       ms
``service_max``, ``service_mean``  of service time                             ms
``ttfb_pNN``                    percentile of time to first byte (sent to the  ms
                                first body byte or gRPC message; an LLM stream's
                                first token is the summary's ``llm.ttft_ms``),
                                over the completed rows that measured one
``ttfb_max``, ``ttfb_mean``     of time to first byte                          ms
``ttft_pNN``                    percentile of time to first token over every   ms
                                request of an LLM step (``llm:``), all pooled
``ttft_max``, ``ttft_mean``     of time to first token                         ms
``itl_pNN``, ``itl_max``, ...   of inter-token latency (every gap), pooled     ms
``tpot_pNN``, ``tpot_max``, ... of time per output token (per request), pooled ms
``error_rate``                  errors / completed requests                    fraction
``flow_error_rate``             failed flow instances / ended flow instances   fraction
``rate``                        requests sent per second                       req/s
``dropped``                     requests never sent (in-flight cap, fencing)   count
``cut``                         requests in flight when the run stopped        count
==============================  =============================================  ========

Every metric but ``cut`` and the LLM figures (``ttft_*``, ``itl_*``, ``tpot_*``) is
measured live too (:attr:`Metric.live`): ``cut`` exists only once the run has stopped,
and the LLM figures are read from the ``chunks/`` side table at the end, so neither can
stop a run. A rule may be scoped to one step (:attr:`~loadray.metric.Rule.step`,
``p99{step=login}``), judged at the end over that step's rows (and live over them, for
an ``abort_on_fail`` threshold or a breaker); every metric but
``flow_error_rate`` (per flow instance) and the pooled LLM figures can be
(:attr:`Metric.why_not_per_step`). Pure: no imports beyond the standard library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast

Kind = Literal["percentile", "max", "mean", "error_rate", "flow_error_rate", "rate", "dropped", "cut"]
Of = Literal["latency", "service", "ttfb", "ttft", "itl", "tpot"]
Unit = Literal["ms", "fraction", "req/s", "count"]

#: The metric names, for messages.
METRICS = (
    "pNN (p50, p99, p99.9), max, mean, service_pNN, service_max, service_mean, "
    "ttfb_pNN, ttfb_max, ttfb_mean, ttft_pNN, ttft_max, ttft_mean, itl_pNN, itl_max, itl_mean, "
    "tpot_pNN, tpot_max, tpot_mean, error_rate, flow_error_rate, rate, dropped, cut"
)
_PREFIX = r"(service_|ttfb_|ttft_|itl_|tpot_)?"
_PERCENTILE = re.compile(rf"^{_PREFIX}p([0-9]{{1,2}}(?:\.[0-9]+)?)$")
_STAT = re.compile(rf"^{_PREFIX}(max|mean)$")
_COUNTERS: tuple[Kind, ...] = ("error_rate", "flow_error_rate", "rate", "dropped", "cut")
_UNITS: dict[str, Unit] = {"error_rate": "fraction", "flow_error_rate": "fraction", "rate": "req/s"}
_FROM_CHUNKS = "it is read from the chunks/ side table once the run has stopped"
_POOLED = "it is pooled over every llm: step, from the chunks/ side table"
_NOT_PER_STEP = {"flow_error_rate": "it counts flow instances, not a step's requests (use error_rate{step=NAME})",
                 "ttft": _POOLED, "itl": _POOLED, "tpot": _POOLED}
_NOT_LIVE = {"cut": "it is known only once the run has stopped", "ttft": _FROM_CHUNKS, "itl": _FROM_CHUNKS,
             "tpot": _FROM_CHUNKS}


@dataclass(frozen=True)
class Metric:
    """``kind`` and, for the time statistics, ``of`` (latency or service time) and
    ``q`` (the percentile, 0 < q < 100)."""

    kind: Kind
    of: Of | None = None
    q: float | None = None

    @property
    def name(self) -> str:
        """The canonical name (``service_p99.9``), as :func:`parse_metric` reads it."""
        prefix = "" if self.of in (None, "latency") else f"{self.of}_"
        if self.kind == "percentile":
            return f"{prefix}p{self.q:g}"
        return prefix + self.kind

    @property
    def unit(self) -> Unit:
        if self.of is not None:
            return "ms"
        return _UNITS.get(self.kind, "count")

    @property
    def is_count(self) -> bool:
        """A count over the whole run (``dropped``, ``cut``), not a rate or a statistic."""
        return self.unit == "count"

    @property
    def live(self) -> bool:
        """Whether the coordinator can judge it while the run goes on."""
        return self.why_not_live is None

    @property
    def why_not_live(self) -> str | None:
        return _NOT_LIVE.get(self.kind) or _NOT_LIVE.get(self.of or "")

    @property
    def why_not_per_step(self) -> str | None:
        """Why a rule on it cannot be scoped to one step (None: it can)."""
        return _NOT_PER_STEP.get(self.kind) or _NOT_PER_STEP.get(self.of or "")

    def __str__(self) -> str:
        return self.name


def parse_metric(name: str) -> Metric | None:
    """The metric called ``name`` (case-insensitive); None for an unknown name."""
    name = name.strip().lower()
    match = _PERCENTILE.match(name)
    if match:
        q = float(match.group(2))
        return Metric("percentile", _of(match.group(1)), q) if 0.0 < q < 100.0 else None
    match = _STAT.match(name)
    if match:
        return Metric(match.group(2), _of(match.group(1)))  # type: ignore[arg-type]
    return Metric(name) if name in _COUNTERS else None


def _of(prefix: str | None) -> Of:
    return cast(Of, prefix[:-1]) if prefix else "latency"
