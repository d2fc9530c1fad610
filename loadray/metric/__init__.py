"""One metric, parsed once: what thresholds (``thresholds:``) and circuit breakers
(``abort_when:``) measure, the rule ``metric op value`` they judge, and the one grammar
that reads them from the scenario.

Two evaluators read the same definition: the final one over the rows
(:mod:`loadray.analysis.thresholds`, exact) and the live one over the merged
heartbeats (:mod:`loadray.live.rules`, within the histograms' 1% buckets). A leaf
package: it imports only :mod:`loadray.units`.
"""

from __future__ import annotations

from loadray.metric.grammar import BREAKER_EXAMPLE, RULE_EXAMPLE, SCOPE_FORM, parse_breaker_rule, parse_rule, with_step
from loadray.metric.metric import METRICS, Kind, Metric, Of, Unit, parse_metric
from loadray.metric.rule import OPS, Breaker, Op, Rule, Threshold

__all__ = [
    "BREAKER_EXAMPLE",
    "METRICS",
    "OPS",
    "RULE_EXAMPLE",
    "SCOPE_FORM",
    "Breaker",
    "Kind",
    "Metric",
    "Of",
    "Op",
    "Rule",
    "Threshold",
    "Unit",
    "parse_breaker_rule",
    "parse_metric",
    "parse_rule",
    "with_step",
]
