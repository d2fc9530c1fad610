"""Breakdowns per step / phase / worker / status / error: hand-built tables, numpy's answers."""

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from loadray.analysis import BREAKDOWN_QUANTILES, breakdown, per_second, sample_arrays, summarize
from loadray.schema import SCHEMA, from_rows
from test_analysis_summary import MS, START, row

S = 1_000_000_000


def ms(ns):
    """numpy's value in ms, rounded like every loadray figure (Python's round of a float)."""
    return round(float(ns) / 1e6, 3)


def at(t_ms, latency_ms, step="x", lag_ms=0.0, **kw):
    """A row intended ``t_ms`` after the start (a multiple of 10 ms)."""
    return row(t_ms // 10, latency_ms=latency_ms, step=step, lag_ns=int(lag_ms * MS),
               service_ms=latency_ms - lag_ms, **kw)


def small():
    """Step x: 10 20 30 40 ms (+ one dropped); step y: 5 ms and a 503 at 50 ms."""
    return from_rows(
        [
            at(0, 10), at(100, 20), at(1100, 30, worker=1), at(1200, 40, worker=1, phase=1),
            at(300, 5, step="y"), at(1300, 50, step="y", error="http_5xx", status=503, phase=1),
            at(1400, 0, error="dropped", phase=1),
        ],
    )


def test_per_step_known_answers():
    df = breakdown(small(), "step", duration_s=2.0)
    assert list(df.index) == ["x", "y"]
    x, y = df.loc["x"], df.loc["y"]
    assert (x["intended"], x["sent"], x["dropped"], x["completed"], x["ok"], x["errors"]) == (5, 4, 1, 4, 4, 0)
    assert (y["intended"], y["completed"], y["ok"], y["errors"]) == (2, 2, 1, 1)
    assert x["latency_p50_ms"] == 25.0 and x["latency_p75_ms"] == 32.5 and x["latency_max_ms"] == 40.0
    assert x["latency_p90_ms"] == 37.0 and x["latency_p99_ms"] == 39.7  # h = 3q: 2.7 -> 30 + .7*10
    assert y["latency_p50_ms"] == 27.5 and y["latency_max_ms"] == 50.0
    assert x["success_rate"] == 1.0 and y["success_rate"] == 0.5
    assert x["rate"] == 2.0 and x["intended_rate"] == 2.5  # 4 sent, 5 intended over 2 s


def test_per_second_known_answers():
    df = per_second(small(), START)
    assert list(df.index) == [0.0, 1.0]
    assert df["intended"].tolist() == [3, 4] and df["sent"].tolist() == [3, 3] and df["dropped"].tolist() == [0, 1]
    assert df["latency_p50_ms"].tolist() == [10.0, 40.0]  # second 0: 5 10 20; second 1: 30 40 50
    assert df["latency_max_ms"].tolist() == [20.0, 50.0]
    assert df["errors"].tolist() == [0, 1] and df["rate"].tolist() == [3.0, 3.0]


def test_whole_run_and_other_groupings():
    t = small()
    whole = breakdown(t, None, duration_s=2.0)
    assert list(whole.index) == ["all"] and whole.loc["all", "intended"] == 7
    assert whole.loc["all", "latency_p50_ms"] == 25.0  # 5 10 20 30 40 50
    assert list(breakdown(t, "worker").index) == [0, 1]
    assert breakdown(t, "phase")["intended"].tolist() == [4, 3]
    assert breakdown(t, "status")["intended"].to_dict() == {0: 1, 200: 5, 503: 1}
    errors = breakdown(t, "error")
    assert errors["intended"].to_dict() == {"(none)": 5, "dropped": 1, "http_5xx": 1}
    assert math.isnan(errors.loc["dropped", "latency_p50_ms"])
    with pytest.raises(ValueError, match="by must be one of"):
        breakdown(t, "colour")


def big():
    rows, raw = [], []
    for i in range(3000):
        err = "timeout" if i % 50 == 7 else "http_5xx" if i % 50 == 13 else "dropped" if i % 100 == 42 else None
        err = "cut" if i == 2999 else err
        lat = (i * 37) % 1013 + 1 + (i % 7) * 0.25
        lag = (i % 5) * 0.1
        r = at(i * 10, lat, step=f"s{i % 3}", error=err, status=503 if err == "http_5xx" else 200,
               phase=i // 1000, worker=i % 4, lag_ms=lag)
        rows.append(r)
        raw.append(r)
    return from_rows(rows), raw


@pytest.mark.parametrize("by", [None, "step", "phase", "worker", "status", "error"])
def test_every_grouping_equals_numpy(by):
    t, raw = big()
    df = breakdown(t, by, duration_s=30.0)
    done = [r for r in raw if r["error"] not in ("dropped", "cut")]
    label = (lambda r: "all") if by is None else (lambda r: r[by] if r[by] is not None else "(none)")
    for name in df.index:
        lat = np.array([r["latency_ns"] for r in done if label(r) == name])
        svc = np.array([r["service_ns"] for r in done if label(r) == name])
        assert df.loc[name, "intended"] == sum(1 for r in raw if label(r) == name)
        for key, q in BREAKDOWN_QUANTILES.items():
            if lat.size:
                assert df.loc[name, f"latency_{key}_ms"] == ms(np.percentile(lat, q))
                assert df.loc[name, f"service_{key}_ms"] == ms(np.percentile(svc, q))
        if lat.size:
            assert df.loc[name, "latency_max_ms"] == ms(lat.max())


def test_per_second_equals_numpy_per_bucket_and_matches_the_summary():
    t, raw = big()
    df = per_second(t, START, bucket_s=0.5)
    assert len(df) == 60  # 30 s of intended sends in 0.5 s buckets
    for k, t_s in enumerate(df.index):
        rows = [r for r in raw if int((r["intended_ns"] - START) // (S // 2)) == k]
        lat = np.array([r["latency_ns"] for r in rows if r["error"] not in ("dropped", "cut")])
        assert t_s == k * 0.5 and df.loc[t_s, "intended"] == len(rows)
        for key, q in BREAKDOWN_QUANTILES.items():
            assert df.loc[t_s, f"latency_{key}_ms"] == ms(np.percentile(lat, q))
    whole = breakdown(t, None)
    s = summarize(t, None)
    for key in ("p50", "p90", "p95", "p99", "p999", "max"):
        assert whole.loc["all", f"latency_{key}_ms"] == s["latency_ms"][key]
        assert whole.loc["all", f"service_{key}_ms"] == s["service_ms"][key]
    steps = breakdown(sample_arrays(t), "step")
    for name, st in s["steps"].items():
        assert steps.loc[name, "latency_p99_ms"] == st["latency_ms"]["p99"]
        assert (steps.loc[name, "ok"], steps.loc[name, "errors"]) == (st["ok"], st["errors"])


def test_by_flow_attempt_and_user():
    from test_analysis_summary import flow_rows, step_row

    rows = flow_rows() + [step_row(11, "root", user=7), step_row(12, "root", user=7, latency_ms=30),
                          step_row(13, "root", user=2)]
    a = sample_arrays(from_rows(rows))
    flows = breakdown(a, "flow")
    assert list(flows.index) == ["(none)", "checkout", "health"]
    assert flows["intended"].tolist() == [4, 9, 1]  # requests of each flow (retries included)
    assert flows["flows"].tolist() == [0, 4, 1] and flows["flows_failed"].tolist() == [0, 2, 1]
    assert flows["flows_ok"].tolist() == [0, 2, 0]
    assert flows.loc["checkout", "flow_p50_ms"] == 60.0 and flows.loc["checkout", "flow_max_ms"] == 90.0
    assert math.isnan(flows.loc["(none)", "flow_p50_ms"])
    attempts = breakdown(a, "attempt")
    assert attempts["intended"].to_dict() == {1: 13, 2: 1}
    users = breakdown(a, "user")
    assert users.index.dtype == "Int64" and pd.isna(users.index[0])
    assert users["intended"].tolist() == [11, 1, 2] and list(users.index[1:]) == [2, 7]
    assert users.loc[7, "latency_max_ms"] == 30.0
