"""The typed metric: names -> Metric (kind, of, q), canonical names, units, which are
judged live; a Rule's comparison."""

from __future__ import annotations

import pytest

from loadray.metric import OPS, Metric, Rule, parse_metric, parse_rule


@pytest.mark.parametrize(
    ("name", "metric", "canonical", "unit", "live"),
    [
        ("p99", Metric("percentile", "latency", 99.0), "p99", "ms", True),
        ("P99.90", Metric("percentile", "latency", 99.9), "p99.9", "ms", True),
        ("p1", Metric("percentile", "latency", 1.0), "p1", "ms", True),
        ("service_p50", Metric("percentile", "service", 50.0), "service_p50", "ms", True),
        ("max", Metric("max", "latency"), "max", "ms", True),
        ("mean", Metric("mean", "latency"), "mean", "ms", True),
        ("service_max", Metric("max", "service"), "service_max", "ms", True),
        ("service_mean", Metric("mean", "service"), "service_mean", "ms", True),
        ("error_rate", Metric("error_rate"), "error_rate", "fraction", True),
        ("flow_error_rate", Metric("flow_error_rate"), "flow_error_rate", "fraction", True),
        ("rate", Metric("rate"), "rate", "req/s", True),
        ("dropped", Metric("dropped"), "dropped", "count", True),
        ("cut", Metric("cut"), "cut", "count", False),
    ],
)
def test_metric_names(name, metric, canonical, unit, live):
    parsed = parse_metric(name)
    assert parsed == metric
    assert (parsed.name, parsed.unit, parsed.live) == (canonical, unit, live)
    assert parse_metric(parsed.name) == parsed  # the canonical name reads back
    assert (parsed.why_not_live is None) is live


@pytest.mark.parametrize("name", ["p0", "p100", "p999", "service_min", "min", "latency", "service_rate", "p", ""])
def test_unknown_metric_names(name):
    assert parse_metric(name) is None


@pytest.mark.parametrize(
    ("op", "measured", "holds"),
    [("<", 9.9, True), ("<", 10.0, False), ("<=", 10.0, True), (">", 10.0, False), (">=", 10.0, True),
     (">", 10.1, True), ("<", None, False), (">", None, False)],
)
def test_rule_holds(op, measured, holds):
    assert Rule(Metric("rate"), op, 10.0).holds(measured) is holds


def test_ops_are_the_four_comparisons_and_rule_of_reads_names():
    assert sorted(OPS) == ["<", "<=", ">", ">="]
    assert Rule.of("service_p99", ">", 1.0) == parse_rule("service_p99 > 1ms")
    with pytest.raises(ValueError):
        Rule.of("latency", "<", 1.0)
