"""Circuit breakers: "<condition> for <duration>" -> Breaker; the condition reads like a
threshold."""

from __future__ import annotations

import pytest

from loadray.errors import ScenarioError
from loadray.metric import Rule
from loadray.scenario import Breaker, parse_breaker, parse_threshold


@pytest.mark.parametrize(
    ("expr", "metric", "op", "value", "for_s"),
    [
        ("error_rate > 50% for 5s", "error_rate", ">", 0.5, 5.0),
        ("p99 > 2s for 10s", "p99", ">", 2000.0, 10.0),
        ("  P99.9>=1.5s  for  1m30s ", "p99.9", ">=", 1500.0, 90.0),
        ("rate < 10/s FOR 250ms", "rate", "<", 10.0, 0.25),
        ("service_max > 500ms for 3s", "service_max", ">", 500.0, 3.0),
        ("dropped > 100 for 1s", "dropped", ">", 100.0, 1.0),
    ],
)
def test_parse_breaker(expr, metric, op, value, for_s):
    assert parse_breaker(expr, "abort_when[0]") == Breaker(expr, Rule.of(metric, op, value), for_s)


@pytest.mark.parametrize(
    "condition", ["p99 > 2s", "error_rate >= 0.5", "p99.9 < 10ms", "rate < 5/s", "max > 1m"]
)
def test_condition_reads_exactly_like_a_threshold(condition):
    breaker = parse_breaker(f"{condition} for 5s", "abort_when")
    threshold = parse_threshold(condition, "thresholds[0]")
    assert breaker.rule == threshold.rule


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("error_rate > 50%", "(the 'for <duration>' part is required)"),
        ("error_rate > 50% for", "expected '<metric> <op> <value> for <duration>'"),
        ("for 5s", "expected '<metric> <op> <value> for <duration>'"),
        ("error_rate = 50% for 5s", "expected '<metric> <op> <value> for <duration>'"),
        ("error_rate > 50% for 0s", "for: must be a duration > 0, got '0s'"),
        ("error_rate > 50% for -1s", "for: expected a duration"),
        ("error_rate > 50% for 5", "for: '5' needs a unit, e.g. 5s"),
        ("error_rate > 50% for ever", "for: expected a duration like 250ms, 10s or 2m"),
        ("p99 > 2 for 5s", "p99: '2' needs a unit, e.g. 2ms or 2s"),
        ("latency > 1s for 5s", "unknown metric 'latency' (expected one of: pNN"),
        ("error_rate > lots for 5s", "error_rate: expected a percentage"),
    ],
)
def test_bad_breaker_is_one_line_at_its_path(expr, fragment):
    with pytest.raises(ScenarioError) as info:
        parse_breaker(expr, "abort_when[1]")
    assert info.value.path == "abort_when[1]"
    assert fragment in info.value.message
    assert "\n" not in str(info.value)


def test_breaker_must_be_a_string():
    with pytest.raises(ScenarioError, match=r"^abort_when\[0\]: must be a string .*got 5$"):
        parse_breaker(5, "abort_when[0]")  # type: ignore[arg-type]


@pytest.mark.parametrize("expr", ["service_p99 > 1ms for 2s", "flow_error_rate > 50% for 2s",
                                  "service_mean > 1s for 1s", "dropped > 0 for 3s"])
def test_every_live_metric_makes_a_breaker(expr):
    assert parse_breaker(expr, "abort_when[0]").rule.metric.live


def test_a_breaker_on_a_metric_not_judged_live_is_refused_at_its_path():
    with pytest.raises(ScenarioError) as info:
        parse_breaker("cut > 0 for 2s", "abort_when[0]")
    assert str(info.value) == (
        "abort_when[0]: metric 'cut' cannot be judged live (it is known only once the run has stopped): "
        "a breaker cannot stop the run on it; use it in thresholds instead"
    )
