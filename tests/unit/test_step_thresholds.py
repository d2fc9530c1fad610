"""Thresholds scoped to one step (``p99{step=login} < 200ms``, or ``step:`` in a mapping):
parsed once, refused with one line where they cannot be judged, and judged at the end
over that step's rows only, exactly (against numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from loadray.analysis import summarize
from loadray.archive.reader import RunMeta
from loadray.errors import ScenarioError
from loadray.live.rules import Rules
from loadray.metric import Rule, Threshold, parse_metric
from loadray.report.text import format_threshold_value
from loadray.scenario import parse_breaker, parse_scenario
from loadray.scenario.thresholds import parse_thresholds
from loadray.schema import from_rows

MS = 1_000_000
START = 1_700_000_000_000_000_000
STEPS = ["home", "shop/login", "shop/pay"]


def one(item, steps=STEPS):
    (t,) = parse_thresholds([item], steps=steps)
    return t


@pytest.mark.parametrize(
    ("item", "expr", "metric", "op", "value", "step"),
    [
        ("p99{step=shop/login} < 200ms", "p99{step=shop/login} < 200ms", "p99", "<", 200.0, "shop/login"),
        ({"threshold": "p99 < 200ms", "step": "shop/login"}, "p99{step=shop/login} < 200ms", "p99", "<", 200.0,
         "shop/login"),
        ({"threshold": "p99{step=home} < 1s", "step": "home"}, "p99{step=home} < 1s", "p99", "<", 1000.0, "home"),
        ("P99.9 {step = 'home'} <= 1.5s", "P99.9 {step = 'home'} <= 1.5s", "p99.9", "<=", 1500.0, "home"),
        ('service_max{step="shop/pay"}>2ms', 'service_max{step="shop/pay"}>2ms', "service_max", ">", 2.0,
         "shop/pay"),
        ("ttfb_p95{step=home} < 50ms", "ttfb_p95{step=home} < 50ms", "ttfb_p95", "<", 50.0, "home"),
        ("mean{step=home} < 5ms", "mean{step=home} < 5ms", "mean", "<", 5.0, "home"),
        ("error_rate{step=shop/pay} < 1%", "error_rate{step=shop/pay} < 1%", "error_rate", "<", 0.01, "shop/pay"),
        ("rate{step=home} >= 10/s", "rate{step=home} >= 10/s", "rate", ">=", 10.0, "home"),
        ("dropped{step=home} < 1", "dropped{step=home} < 1", "dropped", "<", 1.0, "home"),
        ("cut{step=home} <= 3", "cut{step=home} <= 3", "cut", "<=", 3.0, "home"),
        ("p99 < 500ms", "p99 < 500ms", "p99", "<", 500.0, None),  # unchanged
    ],
)
def test_a_scoped_threshold_parses_to_its_rule_and_shows_its_scope(item, expr, metric, op, value, step):
    assert one(item) == Threshold(expr, Rule(parse_metric(metric), op, value, step))


@pytest.mark.parametrize(
    ("item", "line"),
    [
        ("p99{step:login} < 1s", "thresholds[0]: the scope is written {step=NAME}, got '{step:login}'"),
        ("p99{name=login} < 1s", "thresholds[0]: the scope is written {step=NAME}, got '{name=login}'"),
        ("p99{step=} < 1s", "thresholds[0]: {step=NAME} needs a step name, got '{step=}'"),
        ("p99{step=''} < 1s", "thresholds[0]: {step=NAME} needs a step name, got \"{step=''}\""),
        ("flow_error_rate{step=home} < 1%",
         "thresholds[0]: flow_error_rate cannot be scoped to a step: it counts flow instances, not a step's "
         "requests (use error_rate{step=NAME})"),
        ("ttft_p99{step=home} < 1s",
         "thresholds[0]: ttft_p99 cannot be scoped to a step: it is pooled over every llm: step, from the "
         "chunks/ side table"),
        ("itl_mean{step=home} < 1s",
         "thresholds[0]: itl_mean cannot be scoped to a step: it is pooled over every llm: step, from the "
         "chunks/ side table"),
        ("p99{step=logn} < 1s", "thresholds[0]: unknown step 'logn' (the steps are: home, shop/login, shop/pay)"),
        ({"threshold": "p99 < 1s", "step": "login"},
         "thresholds[0].step: unknown step 'login' (the steps are: home, shop/login, shop/pay)"),
        ({"threshold": "p99 < 1s", "step": ""}, "thresholds[0].step: must not be empty"),
        ({"threshold": "p99 < 1s", "step": 3}, "thresholds[0].step: must be a string, got 3"),
        ({"threshold": "p99{step=home} < 1s", "step": "shop/pay"},
         "thresholds[0].step: 'shop/pay' differs from the step the threshold names ('home'): keep one"),
        ({"threshold": "cut < 1", "step": "home", "abort_on_fail": True},
         "thresholds[0]: metric 'cut' cannot be judged live (it is known only once the run has stopped): "
         "abort_on_fail cannot stop the run on it; keep it without abort_on_fail"),
        ({"threshold": "p99{step=logn} < 1s", "abort_on_fail": True},
         "thresholds[0]: unknown step 'logn' (the steps are: home, shop/login, shop/pay)"),
    ],
)
def test_a_bad_scoped_threshold_is_one_line_naming_its_path(item, line):
    with pytest.raises(ScenarioError) as err:
        one(item)
    assert str(err.value) == line


def test_an_archived_scenario_read_back_does_not_check_step_names():
    (t,) = parse_thresholds(["p99{step=gone} < 1s"])  # loadray report: the rows decide
    assert t.rule.step == "gone"


def test_the_known_steps_are_the_names_rows_carry():
    doc = {"name": "s", "target": "http://127.0.0.1:9", "load": {"phases": [{"duration": "1s", "rate": 1}]},
           "flows": [{"name": "shop", "steps": [{"name": "login", "path": "/"}, {"name": "pay", "path": "/"}]},
                     {"name": "home", "steps": [{"name": "only", "path": "/"}]}],
           "thresholds": ["p99{step=shop/login} < 1s", {"threshold": "error_rate < 1%", "step": "home"}]}
    scenario = parse_scenario(doc)
    assert [t.rule.step for t in scenario.thresholds] == ["shop/login", "home"]
    with pytest.raises(ScenarioError) as err:
        parse_scenario({**doc, "thresholds": ["p99 < 1s", "p99{step=login} < 1s"]})
    assert str(err.value) == "thresholds[1]: unknown step 'login' (the steps are: shop/login, shop/pay, home)"


def test_a_default_request_name_with_braces_is_written_in_either_form():
    doc = {"name": "s", "target": "http://127.0.0.1:9", "load": {"phases": [{"duration": "1s", "rate": 1}]},
           "requests": [{"path": "/items/{{ random_int(1, 3) }}"}, {"method": "POST", "path": "/"}],
           "thresholds": ["p99{step=GET /items/{{ random_int(1, 3) }}} < 1s",
                          {"threshold": "error_rate < 1%", "step": "GET /items/{{ random_int(1, 3) }}"},
                          "p99{step='POST /'} < 1s"]}
    scenario = parse_scenario(doc)
    assert [(t.expr, t.rule.step) for t in scenario.thresholds] == [
        ("p99{step=GET /items/{{ random_int(1, 3) }}} < 1s", "GET /items/{{ random_int(1, 3) }}"),
        ("error_rate{step=GET /items/{{ random_int(1, 3) }}} < 1%", "GET /items/{{ random_int(1, 3) }}"),
        ("p99{step='POST /'} < 1s", "POST /")]


def test_a_breaker_may_be_scoped_to_a_step_the_scenario_has():
    b = parse_breaker("p99{step=shop/pay} > 1s for 5s", "abort_when[0]", STEPS)
    assert (b.rule.step, b.rule.value, b.for_s) == ("shop/pay", 1000.0, 5.0)


@pytest.mark.parametrize(
    ("expr", "line"),
    [
        ("p99{step=pay} > 1s for 5s", "abort_when[0]: unknown step 'pay' (the steps are: home, shop/login, shop/pay)"),
        ("cut{step=home} > 1 for 5s", "abort_when[0]: metric 'cut' cannot be judged live (it is known only once "
                                      "the run has stopped): a breaker cannot stop the run on it; use it in "
                                      "thresholds instead"),
        ("flow_error_rate{step=home} > 1% for 5s", "abort_when[0]: flow_error_rate cannot be scoped to a step: it "
                                                   "counts flow instances, not a step's requests (use "
                                                   "error_rate{step=NAME})"),
    ],
)
def test_a_scoped_breaker_it_cannot_judge_is_one_line_naming_its_path(expr, line):
    with pytest.raises(ScenarioError) as err:
        parse_breaker(expr, "abort_when[0]", STEPS)
    assert str(err.value) == line


def test_the_live_evaluator_judges_only_the_scoped_thresholds_that_may_abort():
    ts = parse_thresholds(["p99 < 1s", "p99{step=home} < 1s",
                           {"threshold": "error_rate{step=home} < 1%", "abort_on_fail": True}])
    assert [t.expr for t in Rules(ts, [], window_s=10).thresholds] == ["p99 < 1s", "error_rate{step=home} < 1%"]


def test_the_report_shows_a_scoped_value_in_its_metric_unit():
    assert format_threshold_value("error_rate{step=home} < 1%", 0.025) == "2.5%"
    assert format_threshold_value("rate{step=home} > 1", 12.5) == "12.5/s"
    assert format_threshold_value("dropped{step=home} < 1", 3.0) == "3"
    assert format_threshold_value("p99{step=home} < 1s", 12.5) == "12.5ms"


# --- the final judgement, over a table with known per-step latencies ----------------------------------

RNG = np.random.default_rng(7)
LOGIN_NS = RNG.integers(1 * MS, 50 * MS, 997)   # 997 completed login rows
PAY_NS = RNG.integers(100 * MS, 300 * MS, 403)  # 403 completed pay rows, 13 of them errors
PAY_ERRORS = 13


def table():
    rows, i = [], 0
    for step, values in (("shop/login", LOGIN_NS), ("shop/pay", PAY_NS)):
        for k, v in enumerate(values):
            err = "http_5xx" if step == "shop/pay" and k < PAY_ERRORS else None
            rows.append({"intended_ns": START + i * MS, "sent_ns": START + i * MS, "latency_ns": int(v),
                         "service_ns": int(v) - MS // 2, "status": 500 if err else 200, "error": err,
                         "step": step, "phase": 0, "worker": 0, "bytes_in": 0})
            i += 1
    rows += [{"intended_ns": START + (i + k) * MS, "sent_ns": None, "latency_ns": None, "service_ns": None,
              "status": 0, "error": "dropped", "step": "shop/pay", "phase": 0, "worker": 0, "bytes_in": 0}
             for k in range(4)]
    return from_rows(rows)


TABLE = table()
META = RunMeta(START, START + 10 * 10**9)  # 10 s


def judged(*items):
    s = summarize(TABLE, META, parse_thresholds(list(items)))
    return [(r["value"], r["passed"]) for r in s["thresholds"]], s


def ms3(ns_values, q):
    return round(float(np.percentile(ns_values, q)) / MS, 3)


@pytest.mark.parametrize("q", [50, 95, 99, 97.5, 99.9])
def test_a_step_percentile_is_numpy_over_that_steps_rows_and_a_hair_decides(q):
    want = ms3(LOGIN_NS, q)
    assert want != ms3(np.concatenate([LOGIN_NS, PAY_NS]), q)  # not the run's
    results, _ = judged(f"p{q:g}{{step=shop/login}} < {want + 0.001:.3f}ms",
                        f"p{q:g}{{step=shop/login}} < {want:.3f}ms",
                        {"threshold": f"p{q:g} <= {want:.3f}ms", "step": "shop/login"})
    assert results == [(want, True), (want, False), (want, True)]


def test_step_service_max_mean_error_rate_rate_and_dropped_are_that_steps():
    service = PAY_NS - MS // 2
    results, s = judged("service_p90{step=shop/pay} < 1s", "max{step=shop/pay} < 1s", "mean{step=shop/login} < 1s",
                        "error_rate{step=shop/pay} < 3.3%", "error_rate{step=shop/login} <= 0%",
                        "rate{step=shop/pay} > 40", "dropped{step=shop/pay} < 4", "dropped{step=shop/login} < 1")
    assert [v for v, _ in results] == [
        ms3(service, 90), round(PAY_NS.max() / MS, 3), round(LOGIN_NS.mean() / MS, 3),
        PAY_ERRORS / len(PAY_NS), 0.0, len(PAY_NS) / 10.0, 4, 0]
    assert [p for _, p in results] == [True, True, True, True, True, True, False, True]
    assert s["steps"]["shop/pay"]["latency_ms"]["max"] == results[1][0]  # the step table's figure
    assert s["thresholds"][0] == {"expr": "service_p90{step=shop/pay} < 1s", "value": results[0][0], "passed": True,
                                  "step": "shop/pay"}


def test_a_step_with_no_rows_fails_every_threshold_scoped_to_it():
    results, s = judged("p99{step=shop/none} < 1h", "dropped{step=shop/none} < 1", "error_rate{step=shop/none} < 100%",
                        "rate{step=shop/none} >= 0", "p99 < 1h")
    assert results == [(None, False), (None, False), (None, False), (None, False), (ms3(
        np.concatenate([LOGIN_NS, PAY_NS]), 99), True)]
    assert s["passed"] is False


def test_a_step_whose_rows_were_all_dropped_has_no_latency_and_fails():
    only_dropped = TABLE.filter(np.array([e == "dropped" for e in TABLE.column("error").to_pylist()]))
    s = summarize(only_dropped, META, parse_thresholds(["p99{step=shop/pay} < 1h", "dropped{step=shop/pay} <= 4"]))
    assert [(r["value"], r["passed"]) for r in s["thresholds"]] == [(None, False), (4, True)]


def test_a_step_time_to_first_byte_is_over_that_steps_rows_that_measured_one():
    ttfb = {"shop/login": LOGIN_NS // 4, "shop/pay": None}  # pay measured none
    rows = [{"intended_ns": START + i * MS, "sent_ns": START + i * MS, "latency_ns": int(v), "service_ns": int(v),
             "ttfb_ns": None if ttfb[step] is None else int(ttfb[step][i % len(LOGIN_NS)]), "status": 200,
             "error": None, "step": step, "phase": 0, "worker": 0, "bytes_in": 0}
            for step, values in (("shop/login", LOGIN_NS), ("shop/pay", PAY_NS)) for i, v in enumerate(values)]
    want = ms3(LOGIN_NS // 4, 95)
    s = summarize(from_rows(rows), META, parse_thresholds(
        [f"ttfb_p95{{step=shop/login}} <= {want:.3f}ms", f"ttfb_p95{{step=shop/login}} < {want:.3f}ms",
         "ttfb_max{step=shop/login} < 1s", "ttfb_p95{step=shop/pay} < 1h"]))
    assert [(r["value"], r["passed"]) for r in s["thresholds"]] == [
        (want, True), (want, False), (round((LOGIN_NS // 4).max() / MS, 3), True), (None, False)]
