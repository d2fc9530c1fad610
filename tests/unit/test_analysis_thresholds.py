import numpy as np
import pyarrow as pa
import pytest

from loadray.analysis import evaluate, summarize
from loadray.analysis import sample_arrays
from loadray.archive.reader import RunMeta
from loadray.metric import Rule, Threshold, parse_metric
from loadray.schema import SCHEMA, from_rows

MS = 1_000_000
START = 1_700_000_000_000_000_000


def run_table(n_ok=1000, n_err=0, n_dropped=0):
    """Latencies 1..n_ok ms (service = latency - 0.5 ms) plus errors at 5 ms, dropped rows."""
    rows = []
    for i in range(n_ok):
        rows.append((i, (i + 1) * MS, None, 200))
    for k in range(n_err):
        rows.append((n_ok + k, 5 * MS, "timeout", 0))
    for k in range(n_dropped):
        rows.append((n_ok + n_err + k, None, "dropped", 0))
    return from_rows(
        [
            {
                "intended_ns": START + i * MS,
                "sent_ns": None if lat is None else START + i * MS,
                "latency_ns": lat,
                "service_ns": None if lat is None else lat - MS // 2,
                "status": status,
                "error": err,
                "step": "root",
                "phase": 0,
                "worker": 0,
                "bytes_in": 0,
            }
            for i, lat, err, status in rows
        ],
    )


def th(expr):
    """A threshold with its value already in the metric's unit (ms, fraction, ...)."""
    metric, op, value = expr.split()
    return Threshold(expr, Rule(parse_metric(metric), op, float(value)))


def one(t, expr, meta=RunMeta(START, START + 10 * 10**9)):
    s = summarize(t, meta, [th(expr)])
    (r,) = s["thresholds"]
    assert r["expr"] == expr
    return r["value"], r["passed"], s


LAT = np.arange(1, 1001) * MS


@pytest.mark.parametrize(
    "expr, value, passed",
    [
        ("p99 < 991", 990.01, True),
        ("p99 < 990.01", 990.01, False),
        ("p99 <= 990.01", 990.01, True),
        ("p50 > 500", 500.5, True),
        ("p50 >= 501", 500.5, False),
        ("p99.9 < 999", 999.001, False),  # the summary's p999
        ("p75 < 751", round(np.percentile(LAT, 75) / 1e6, 3), True),  # not in the summary: exact
        ("p99.99 < 1000", round(np.percentile(LAT, 99.99) / 1e6, 3), True),
        ("max < 1000", 1000.0, False),
        ("max <= 1000", 1000.0, True),
        ("mean < 600", 500.5, True),
        ("service_p99 < 990", 989.51, True),
        ("service_p75 < 750", round(np.percentile(LAT - MS // 2, 75) / 1e6, 3), True),
        ("service_max < 999.5", 999.5, False),
        ("rate >= 100", 100.0, True),
        ("rate > 100", 100.0, False),
        ("dropped < 1", 0, True),
        ("error_rate < 0.005", 0.0, True),
    ],
)
def test_each_metric_kind(expr, value, passed):
    v, p, _ = one(run_table(), expr)
    assert v == value
    assert p is passed


def test_error_rate_and_dropped():
    t = run_table(n_ok=990, n_err=10, n_dropped=3)
    v, p, s = one(t, "error_rate < 0.01")
    assert v == 0.01 and p is False
    v, p, _ = one(t, "error_rate <= 0.01")
    assert p is True
    v, p, _ = one(t, "dropped < 3")
    assert v == 3 and p is False
    v, p, _ = one(t, "dropped <= 3")
    assert p is True
    assert s["passed"] is False


def test_no_data_is_none_and_fails():
    t = run_table(n_ok=0, n_dropped=5)
    for expr in ("p99 < 1000", "p75 < 1000", "max < 1", "service_p99 < 1", "error_rate < 1"):
        v, p, _ = one(t, expr)
        assert (v, p) == (None, False), expr
    v, p, _ = one(t, "dropped >= 5")
    assert (v, p) == (5, True)
    v, p, _ = one(SCHEMA.empty_table(), "rate > 0", meta=None)  # zero duration
    assert (v, p) == (None, False)


def with_ttfb(t: pa.Table) -> pa.Table:
    """Time to first byte a quarter of the latency on the ok rows, none on the last ok
    row (no body) and on the errors."""
    lat = t.column("latency_ns").to_numpy(zero_copy_only=False)
    ok = t.column("error").is_null().to_numpy(zero_copy_only=False)
    ttfb = [int(x) // 4 if good and i < 999 else None for i, (x, good) in enumerate(zip(lat, ok))]
    return t.set_column(t.schema.get_field_index("ttfb_ns"), "ttfb_ns", pa.array(ttfb, pa.int64()))


@pytest.mark.parametrize("expr, value", [
    ("ttfb_p99 < 250", round(np.percentile(np.arange(1, 1000) * MS // 4, 99) / 1e6, 3)),
    ("ttfb_p50 < 250", round(np.percentile(np.arange(1, 1000) * MS // 4, 50) / 1e6, 3)),
    ("ttfb_max < 250", 249.75),
    ("ttfb_mean < 250", round(float(np.mean(np.arange(1, 1000) * MS // 4)) / 1e6, 3)),
])
def test_time_to_first_byte_over_the_completed_rows_that_measured_one(expr, value):
    v, p, s = one(with_ttfb(run_table(n_ok=1000, n_err=10)), expr)
    assert v == pytest.approx(value, abs=0.001) and p is True
    assert s["ttfb_ms"]["max"] == 249.75 and s["latency_ms"]["max"] == 1000.0


def test_time_to_first_byte_is_folded_only_for_a_threshold_and_without_data_fails():
    assert "ttfb_ms" not in summarize(with_ttfb(run_table()), None, [th("p99 < 2000")])
    v, p, _ = one(run_table(), "ttfb_p99 < 1000")  # no row measured one (an older archive)
    assert (v, p) == (None, False)


def test_passed_is_all_thresholds():
    s = summarize(run_table(), None, [th("p99 < 2000"), th("max < 10")])
    assert [r["passed"] for r in s["thresholds"]] == [True, False] and s["passed"] is False
    s = summarize(run_table(), None, [th("p99 < 2000"), th("max < 2000")])
    assert s["passed"] is True


def test_evaluate_accepts_table_arrays_or_mapping():
    t = run_table()
    s = summarize(t, None)
    ts = [th("p75 < 751"), th("service_p10 > 0")]
    by_table = evaluate(ts, t, s)
    by_arrays = evaluate(ts, sample_arrays(t), s)
    by_map = evaluate(ts, {"latency_ns": LAT, "service_ns": LAT - MS // 2}, s)
    assert by_table == by_arrays == by_map
    assert by_table[0] == {"expr": "p75 < 751", "value": round(np.percentile(LAT, 75) / 1e6, 3), "passed": True}


def test_flow_error_rate_counts_failed_flow_instances_not_failed_attempts():
    from loadray.scenario import parse_threshold

    def row(i, flow, attempt, error, last):
        return {"intended_ns": START + i * MS, "sent_ns": START + i * MS, "latency_ns": MS, "service_ns": MS,
                "status": 503 if error else 200, "error": error, "step": "f", "phase": 0, "worker": 0,
                "bytes_in": 0, "attempt": attempt, "flow_id": flow, "flow_ns": MS if last else None}

    rows = []
    for flow in range(10):  # every flow: a 503, then a successful retry...
        rows += [row(2 * flow, flow, 1, "http_5xx", False), row(2 * flow + 1, flow, 2, None, True)]
    rows.append(row(40, 99, 1, "http_5xx", True))  # ...but one flow fails for good
    table = from_rows(rows)
    s = summarize(table, RunMeta(START, START + 10**9))
    assert s["error_rate"] == pytest.approx(11 / 21)
    t = parse_threshold("flow_error_rate < 10%", "thresholds[0]")
    [result] = evaluate([t], table, s)
    assert result["value"] == pytest.approx(1 / 11) and result["passed"]
    [none] = evaluate([t], from_rows(rows[:0] + [{**r, "flow_ns": None} for r in rows]), {**s, "flows": {}})
    assert none["value"] is None and not none["passed"]
