"""Threshold expressions -> Threshold(metric, op, value in summary units)."""

from __future__ import annotations

import pytest

from loadray.errors import ScenarioError
from loadray.metric import Rule
from loadray.scenario import Threshold, parse_threshold
from loadray.scenario.thresholds import parse_thresholds


@pytest.mark.parametrize(
    ("expr", "metric", "op", "value"),
    [
        ("p99 < 1s", "p99", "<", 1000.0),
        ("p50<=250ms", "p50", "<=", 250.0),
        ("  p99.9 < 1.5s ", "p99.9", "<", 1500.0),
        ("P95 < 2m", "p95", "<", 120000.0),
        ("p1 > 500us", "p1", ">", 0.5),
        ("max < 3s", "max", "<", 3000.0),
        ("mean <= 20ms", "mean", "<=", 20.0),
        ("service_p99 < 100ms", "service_p99", "<", 100.0),
        ("service_max < 1s", "service_max", "<", 1000.0),
        ("service_mean < 40ms", "service_mean", "<", 40.0),
        ("SERVICE_P99.99 <= 2s", "service_p99.99", "<=", 2000.0),
        ("flow_error_rate < 2%", "flow_error_rate", "<", 0.02),
        ("cut <= 5", "cut", "<=", 5.0),
        ("error_rate < 0.5%", "error_rate", "<", 0.005),
        ("error_rate <= 0.01", "error_rate", "<=", 0.01),
        ("rate >= 400", "rate", ">=", 400.0),
        ("rate >= 99.5/s", "rate", ">=", 99.5),
        ("dropped <= 0", "dropped", "<=", 0.0),
        ("dropped < 10", "dropped", "<", 10.0),
    ],
)
def test_parse_threshold(expr, metric, op, value):
    assert parse_threshold(expr, "thresholds[0]") == Threshold(expr, Rule.of(metric, op, value))


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("p99", "expected '<metric> <op> <value>'"),
        ("p99 == 1s", "expected '<metric> <op> <value>'"),
        ("p99 <", "expected '<metric> <op> <value>'"),
        ("< 1s", "expected '<metric> <op> <value>'"),
        ("p100 < 1s", "unknown metric 'p100'"),
        ("p0 < 1s", "unknown metric 'p0'"),
        ("p999 < 1s", "unknown metric 'p999'"),
        ("service_min < 1s", "unknown metric 'service_min'"),
        ("cut < 1.5", "cut: expected a whole number of requests"),
        ("latency < 1s", "unknown metric 'latency' (expected one of: pNN"),
        ("p99 < 200", "p99: '200' needs a unit, e.g. 200ms or 200s"),
        ("p99 < fast", "p99: expected a duration like 250ms"),
        ("p99 < 1s 2", "p99: expected a duration"),
        ("error_rate < 150%", "error_rate: expected a value between 0% and 100%, got '150%'"),
        ("error_rate < lots", "error_rate: expected a percentage"),
        ("rate > 5/m", "rate: expected requests/s like 500 or 500/s, got '5/m'"),
        ("dropped < 1.5", "dropped: expected a whole number of requests, got '1.5'"),
        ("dropped < -1", "dropped: expected a whole number"),
    ],
)
def test_bad_threshold_is_one_line_at_its_path(expr, fragment):
    with pytest.raises(ScenarioError) as info:
        parse_threshold(expr, "thresholds[2]")
    assert info.value.path == "thresholds[2]"
    assert fragment in info.value.message
    assert "\n" not in str(info.value)


def test_threshold_must_be_a_string():
    with pytest.raises(ScenarioError, match=r"^thresholds\[0\]: must be a string .*got 5$"):
        parse_threshold(5, "thresholds[0]")  # type: ignore[arg-type]


def test_threshold_items_may_be_mappings_with_abort_on_fail_and_delay():
    items = [
        "p99 < 1s",
        {"threshold": "error_rate < 1%", "abort_on_fail": True, "delay": "5s"},
        {"threshold": "max < 2s", "delay": 0},
        {"threshold": "rate >= 10"},
    ]
    assert parse_thresholds(items) == (
        Threshold("p99 < 1s", Rule.of("p99", "<", 1000.0)),
        Threshold("error_rate < 1%", Rule.of("error_rate", "<", 0.01), abort_on_fail=True, delay_s=5.0),
        Threshold("max < 2s", Rule.of("max", "<", 2000.0)),
        Threshold("rate >= 10", Rule.of("rate", ">=", 10.0)),
    )


@pytest.mark.parametrize("metric", ["p99", "service_p99", "service_mean", "max", "error_rate", "flow_error_rate",
                                    "rate", "dropped"])
def test_abort_on_fail_is_accepted_on_every_metric_judged_live(metric):
    value = {"error_rate": "1%", "flow_error_rate": "1%", "rate": "10", "dropped": "5"}.get(metric, "1s")
    [t] = parse_thresholds([{"threshold": f"{metric} < {value}", "abort_on_fail": True}])
    assert t.abort_on_fail and t.rule.metric.live


def test_abort_on_fail_on_a_metric_not_judged_live_is_refused_at_its_path():
    assert parse_thresholds(["cut < 5"])[0].rule.metric.name == "cut"  # a final threshold: fine
    with pytest.raises(ScenarioError) as info:
        parse_thresholds(["p99 < 1s", {"threshold": "cut < 5", "abort_on_fail": True}])
    assert str(info.value) == (
        "thresholds[1]: metric 'cut' cannot be judged live (it is known only once the run has stopped): "
        "abort_on_fail cannot stop the run on it; keep it without abort_on_fail"
    )


def test_llm_figures_are_final_thresholds_only():
    assert parse_thresholds(["ttft_p99 < 500ms"])[0].rule.metric.name == "ttft_p99"
    with pytest.raises(ScenarioError) as info:
        parse_thresholds([{"threshold": "ttft_mean < 1s", "abort_on_fail": True}])
    assert str(info.value) == (
        "thresholds[0]: metric 'ttft_mean' cannot be judged live (it is read from the chunks/ side table once "
        "the run has stopped): abort_on_fail cannot stop the run on it; keep it without abort_on_fail"
    )
    assert not any(parse_thresholds([f"{m} < 1s"])[0].rule.metric.live for m in ("itl_p99", "tpot_max", "ttft_mean"))
    [t] = parse_thresholds([{"threshold": "ttfb_p99 < 1s", "abort_on_fail": True}])  # time to first byte is live
    assert t.rule.metric.live
