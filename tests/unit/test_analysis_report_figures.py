"""What the report shows besides the summary's latency: bytes and status codes per step,
check pass/fail counts, requests in flight over time, error samples, and time buckets
that cover the run (a last partial second scaled, not a dip)."""

import math

import numpy as np
import pyarrow as pa
import pytest

from loadray.analysis import bytes_in, check_results, error_samples, in_flight, per_second, status_by_step
from loadray.schema import SCHEMA, complete

MS = 1_000_000
S = 1_000_000_000
START = 1_700_000_000_000_000_000


def table(rows: list[dict]) -> pa.Table:
    """Rows given as dicts with ``at`` (intended, ms since START), ``step``, and optional
    ``status`` (200), ``error``, ``lag`` (send lag ms, 0), ``service`` (ms, 5), ``bytes``,
    ``detail``, ``user``; dropped/fenced rows are never sent, cut rows never done."""
    def col(key, default):
        return [r.get(key, default) for r in rows]

    never = [r.get("error") in ("dropped", "fenced") for r in rows]
    open_ = [r.get("error") == "cut" for r in rows]
    intended = np.array([START + int(r["at"] * MS) for r in rows], np.int64)
    sent = [None if n else int(i + r.get("lag", 0) * MS) for n, i, r in zip(never, intended, rows)]
    service = [None if n or o else int(r.get("service", 5) * MS) for n, o, r in zip(never, open_, rows)]
    latency = [None if s is None else s + int(r.get("lag", 0) * MS) for s, r in zip(service, rows)]
    return complete({
        "intended_ns": intended, "sent_ns": pa.array(sent, pa.int64()),
        "latency_ns": pa.array(latency, pa.int64()), "service_ns": pa.array(service, pa.int64()),
        "status": np.array(col("status", 200), np.int16),
        "error": pa.array(col("error", None), SCHEMA.field("error").type),
        "step": pa.array(col("step", "a"), SCHEMA.field("step").type),
        "phase": np.zeros(len(rows), np.int16), "worker": np.zeros(len(rows), np.int16),
        "bytes_in": np.array(col("bytes", 0), np.int32),
        "user": pa.array(col("user", None), pa.int32()),
        "error_detail": pa.array(col("detail", None), SCHEMA.field("error_detail").type),
    })


def test_bytes_in_total_per_second_and_per_step():
    t = table([{"at": 0, "step": "a", "bytes": 100}, {"at": 1, "step": "a", "bytes": 300},
               {"at": 2, "step": "b", "bytes": 50}, {"at": 3, "step": "b", "status": 0, "error": "timeout"},
               {"at": 4, "step": "b", "status": 0, "error": "dropped"}])
    got = bytes_in(t, duration_s=2.0)
    assert got == {"total": 450, "per_s": 225.0, "steps": {
        "a": {"total": 400, "per_s": 200.0, "per_response": 200.0},
        "b": {"total": 50, "per_s": 25.0, "per_response": 50.0},  # one response: the timeout has none
    }}
    assert bytes_in(t.drop_columns(["bytes_in"]), 2.0) == {}


def test_status_codes_per_step_over_completed_rows():
    t = table([{"at": 0, "step": "b", "status": 200}, {"at": 1, "step": "b", "status": 503, "error": "http_5xx"},
               {"at": 2, "step": "a", "status": 200}, {"at": 3, "step": "a", "status": 200},
               {"at": 4, "step": "a", "status": 0, "error": "reset"},
               {"at": 5, "step": "a", "status": 0, "error": "dropped"}, {"at": 6, "step": "a", "status": 0, "error": "cut"}])
    frame = status_by_step(t)
    assert list(frame.index) == ["a", "b"] and list(frame.columns) == ["0", "200", "503"]
    assert frame.loc["a"].tolist() == [1, 2, 0] and frame.loc["b"].tolist() == [0, 1, 1]


PLAN = {"login": ["status in [200]", "json ok == true"], "pay": ["status in [200]"]}


def test_checks_passed_and_failed_in_evaluation_order():
    rows = [{"at": k, "step": "login"} for k in range(6)]  # 6 passed both
    rows += [{"at": 10 + k, "step": "login", "error": "check:status in [200]"} for k in range(2)]
    rows += [{"at": 20, "step": "login", "error": "check:json ok == true"}]  # passed the first
    rows += [{"at": 21, "step": "login", "error": "check_error", "detail": "json ok == true: TypeError: x"}]
    rows += [{"at": 22, "step": "login", "error": "extract"}]  # checks passed, extraction failed after
    rows += [{"at": 23, "step": "login", "status": 500, "error": "http_5xx"}]  # not judged
    rows += [{"at": 24, "step": "login", "status": 0, "error": "timeout"}]  # not judged
    rows += [{"at": 30 + k, "step": "pay"} for k in range(3)]
    rows += [{"at": 40, "step": "other", "error": "check:body contains 'x'"}]  # not in the plan
    got = check_results(table(rows), PLAN)
    assert got == [
        {"step": "login", "check": "status in [200]", "passed": 9, "failed": 2, "errors": 0},
        {"step": "login", "check": "json ok == true", "passed": 7, "failed": 1, "errors": 1},
        {"step": "pay", "check": "status in [200]", "passed": 3, "failed": 0, "errors": 0},
        {"step": "other", "check": "body contains 'x'", "passed": None, "failed": 1, "errors": 0},
    ]


def test_checks_of_a_step_without_rows_count_zero():
    assert check_results(table([{"at": 0, "step": "pay"}]), {"login": ["status in [200]"]}) == [
        {"step": "login", "check": "status in [200]", "passed": 0, "failed": 0, "errors": 0}]


def test_in_flight_mean_and_max_per_second():
    # second 0: one request in flight for its whole 1 s; second 1: 3 overlap for 100 ms
    rows = [{"at": 0, "service": 1000 - 1e-6}]
    rows += [{"at": 1200 + k, "service": 100} for k in range(3)]
    frame = in_flight(table(rows), START, duration_s=2.0)
    assert list(frame.index) == [0.0, 1.0]
    assert frame.loc[0.0, "in_flight_max"] == 1 and frame.loc[0.0, "in_flight_mean"] == pytest.approx(1.0, abs=0.011)
    assert frame.loc[1.0, "in_flight_max"] == 3
    assert frame.loc[1.0, "in_flight_mean"] == pytest.approx(3 * 0.1, abs=0.031)
    assert "active_users" not in frame


def test_a_cut_request_stays_in_flight_to_the_end_and_users_are_counted():
    rows = [{"at": 100, "error": "cut", "status": 0, "user": 1},
            {"at": 1100, "user": 2, "service": 300}, {"at": 1200, "user": 2, "service": 300}]
    frame = in_flight(table(rows), START, duration_s=1.5)
    assert frame["in_flight_max"].tolist() == [1, 3]
    # the last bucket lasted 0.5 s: the cut one all along, the others 0.3 s each
    assert frame.loc[1.0, "in_flight_mean"] == pytest.approx(1 + 0.6 / 0.5, abs=0.05)
    assert frame["active_users"].tolist() == [1, 1]


def test_error_samples_a_few_per_kind_most_frequent_first():
    rows = [{"at": k, "step": "a", "status": 503, "error": "http_5xx"} for k in range(5)]
    rows += [{"at": 100 + k, "step": "b", "status": 500, "error": "http_5xx"} for k in range(2)]
    rows += [{"at": 200 + k, "step": "a", "status": 0, "error": "timeout"} for k in range(3)]
    rows += [{"at": 300 + k, "step": "a", "status": 0, "error": "internal", "detail": f"ValueError: {k}"}
             for k in range(5)]
    rows += [{"at": 400, "step": "a", "status": 0, "error": "dropped"}]  # not an error
    got = error_samples(table(rows), START, per_kind=3)
    assert [(g["kind"], g["step"], g["status"], g["count"]) for g in got[:2]] == \
        [("http_5xx", "a", 503, 5), ("http_5xx", "b", 500, 2)]
    assert got[0]["first_s"] == 0.0 and got[1]["first_s"] == 0.1
    internal = [g for g in got if g["kind"] == "internal"]
    assert [g["detail"] for g in internal] == ["ValueError: 0", "ValueError: 1", "ValueError: 2"]  # 3 of 5
    assert [g["kind"] for g in got].index("timeout") > [g["kind"] for g in got].index("internal")
    assert all(g["kind"] != "dropped" for g in got)


def test_buckets_cover_the_run_and_a_last_partial_second_is_scaled():
    rows = [{"at": k * 10} for k in range(123)]  # 100/s for 1.23 s
    df = per_second(table(rows), START, duration_s=1.23)
    assert list(df.index) == [0.0, 1.0]
    assert df["width_s"].tolist() == [1.0, pytest.approx(0.23)]
    assert df["intended"].tolist() == [100, 23]
    assert df["rate"].tolist() == [100.0, pytest.approx(100.0)]  # not a dip to 23/s
    stalled = per_second(table([{"at": 0}]), START, duration_s=3.0)  # nothing after 0 s: still 3 buckets
    assert list(stalled.index) == [0.0, 1.0, 2.0] and stalled["width_s"].tolist() == [1.0, 1.0, 1.0]
    late = table([{"at": 990, "lag": 30}, {"at": 1010}])  # sent, or intended, after the end: in the last bucket
    assert per_second(late, START, duration_s=1.0)["sent"].tolist() == [2]
    assert per_second(late, START, duration_s=1.0)["intended"].tolist() == [2]
    assert math.isnan(per_second(late, START, duration_s=1.0).loc[0.0, "latency_p50_ms"]) is False
