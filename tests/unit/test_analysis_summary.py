import json

import numpy as np
import pandas as pd
import pyarrow as pa

from loadray.analysis import summarize
from loadray.archive.reader import RunMeta
from loadray.schema import SCHEMA, SCHEMA_VERSION, complete, from_rows

MS = 1_000_000
START = 1_700_000_000_000_000_000


def row(i, latency_ms=None, error=None, status=200, step="root", phase=0, worker=0, lag_ns=0, service_ms=None):
    intended = START + i * 10 * MS
    dropped = error == "dropped"
    lat = None if dropped or latency_ms is None else int(latency_ms * MS)
    svc = None if lat is None else int((service_ms if service_ms is not None else latency_ms) * MS)
    return {
        "intended_ns": intended,
        "sent_ns": None if dropped else intended + lag_ns,
        "latency_ns": lat,
        "service_ns": svc,
        "status": 0 if dropped else status,
        "error": error,
        "step": step,
        "phase": phase,
        "worker": worker,
        "bytes_in": 0,
    }


def table(rows):
    return from_rows(rows)


def test_latencies_one_to_thousand_ms():
    t = table([row(i, latency_ms=i + 1) for i in range(1000)])
    s = summarize(t, RunMeta(START, START + 10 * 10**9), name="x")
    assert s["latency_ms"]["p50"] == 500.5 == round(np.percentile(np.arange(1, 1001) * MS, 50) / 1e6, 3)
    assert s["latency_ms"]["p99"] == 990.01
    assert s["latency_ms"]["p999"] == 999.001
    assert s["latency_ms"]["max"] == 1000.0
    assert s["service_ms"] == s["latency_ms"]
    assert (s["intended"], s["sent"], s["dropped"], s["cut"], s["ok"], s["errors"]) == (1000, 1000, 0, 0, 1000, 0)
    assert s["duration_s"] == 10.0 and s["rate"] == 100.0 and s["intended_rate"] == 100.0
    assert s["error_rate"] == 0.0
    assert s["passed"] is True and s["thresholds"] == []
    assert s["status"] == {"200": 1000}
    assert s["started_at"] == "2023-11-14T22:13:20.000Z"
    assert s["name"] == "x" and s["schema_version"] == SCHEMA_VERSION
    json.dumps(s, allow_nan=False)  # plain JSON types only


def test_dropped_and_cut_accounting():
    rows = [
        row(0, error="dropped"),
        row(1, error="dropped"),
        row(2, latency_ms=9999, error="cut", status=0),  # has a latency, must not count
        row(3, latency_ms=30, error="timeout", status=0),
        row(4, latency_ms=40, error="http_5xx", status=503),
        *[row(5 + k, latency_ms=k + 1) for k in range(5)],
    ]
    s = summarize(table(rows), RunMeta(START, START + 2 * 10**9))
    assert s["intended"] == 10 and s["dropped"] == 2 and s["sent"] == 8
    assert s["cut"] == 1 and s["completed"] == 7
    assert s["errors"] == 2 and s["ok"] == 5
    assert s["intended"] == s["sent"] + s["dropped"]
    assert s["sent"] == s["completed"] + s["cut"]
    assert s["completed"] == s["ok"] + s["errors"]
    assert s["error_rate"] == 2 / 7
    assert s["errors_by_kind"] == {"dropped": 2, "cut": 1, "http_5xx": 1, "timeout": 1}
    assert s["status"] == {"0": 1, "200": 5, "503": 1}
    completed = np.array([30, 40, 1, 2, 3, 4, 5]) * MS
    assert s["latency_ms"]["max"] == 40.0
    assert s["latency_ms"]["p50"] == round(np.percentile(completed, 50) / 1e6, 3) == 4.0
    assert s["latency_ms"]["p99"] == round(np.percentile(completed, 99) / 1e6, 3)
    assert s["rate"] == 4.0 and s["intended_rate"] == 5.0
    assert any(w.startswith("2 requests were dropped because the in-flight cap") for w in s["warnings"])
    assert any(w.startswith("1 requests were still in flight") for w in s["warnings"])


def test_steps_and_phases_grouped_exactly():
    rows = []
    a_lat, b_lat = [], []
    for i in range(200):
        step = "a" if i % 3 else "b"
        phase = 2 if i >= 120 else 0
        lat = (i * 37) % 101 + 1
        err = "timeout" if i % 50 == 7 else None
        rows.append(row(i, latency_ms=lat, error=err, status=0 if err else 200, step=step, phase=phase, worker=i % 4))
        (a_lat if step == "a" else b_lat).append(lat * MS)
    rows.append(row(200, error="dropped", step="b", phase=2))
    s = summarize(table(rows), None)
    assert list(s["steps"]) == ["a", "b"]  # sorted by name
    a, b = s["steps"]["a"], s["steps"]["b"]
    assert a["count"] == 133 and b["count"] == 68
    assert a["errors"] + b["errors"] == 4
    assert a["ok"] + a["errors"] == 133 and b["ok"] + b["errors"] == 67
    for st, lats in ((a, a_lat), (b, b_lat)):
        for key, q in (("p50", 50), ("p90", 90), ("p99", 99)):
            assert st["latency_ms"][key] == round(np.percentile(lats, q) / 1e6, 3)
        assert st["latency_ms"]["max"] == max(lats) / 1e6
    assert [p["phase"] for p in s["phases"]] == [0, 2]
    p0, p2 = s["phases"]
    assert (p0["intended"], p0["sent"]) == (120, 120)
    assert (p2["intended"], p2["sent"]) == (81, 80)
    assert p0["ok"] + p0["errors"] == 120 and p2["ok"] + p2["errors"] == 80
    p0_lat = [((i * 37) % 101 + 1) * MS for i in range(120)]
    assert p0["latency_ms"]["p99"] == round(np.percentile(p0_lat, 99) / 1e6, 3)
    assert s["workers"] == 4


def test_many_steps_match_pandas_groupby():
    rng = np.random.default_rng(3)
    n = 20_000
    steps = [f"s{k:02d}" for k in rng.integers(0, 13, n)]
    lat = rng.integers(1, 10**9, n)
    err = np.where(rng.random(n) < 0.05, "dropped", None)
    t = complete(
        {
            "intended_ns": START + np.arange(n) * MS,
            "sent_ns": pa.array(START + np.arange(n) * MS, mask=err == "dropped"),
            "latency_ns": pa.array(lat, mask=err == "dropped"),
            "service_ns": pa.array(lat, mask=err == "dropped"),
            "status": pa.array(np.where(err == "dropped", 0, 200).astype(np.int16)),
            "error": pa.array(list(err), SCHEMA.field("error").type),
            "step": pa.array(steps, SCHEMA.field("step").type),
            "phase": pa.array((np.arange(n) // 1000).astype(np.int16)),
            "worker": pa.array(np.zeros(n, np.int16)),
            "bytes_in": pa.array(np.zeros(n, np.int32)),
        }
    )
    s = summarize(t, None)
    df = pd.DataFrame({"step": steps, "phase": np.arange(n) // 1000, "lat": lat, "dropped": err == "dropped"})
    done = df[~df.dropped]
    for name, grp in done.groupby("step"):
        st = s["steps"][name]
        assert st["count"] == int((df.step == name).sum())
        assert st["ok"] == len(grp)
        for key, q in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999)):
            assert st["latency_ms"][key] == round(grp.lat.quantile(q) / 1e6, 3)
        assert st["latency_ms"]["mean"] == round(grp.lat.mean() / 1e6, 3)
    assert len(s["phases"]) == 20
    for ph in s["phases"]:
        grp = done[done.phase == ph["phase"]]
        assert ph["latency_ms"]["p99"] == round(grp.lat.quantile(0.99) / 1e6, 3)
        assert ph["intended"] == 1000 and ph["sent"] == len(grp)
    assert s["latency_ms"]["p99"] == round(done.lat.quantile(0.99) / 1e6, 3)


def test_send_lag_over_sent_rows():
    rows = [row(i, latency_ms=5, lag_ns=(i + 1) * MS) for i in range(100)] + [row(100, error="dropped")]
    s = summarize(table(rows), None)
    lags = np.arange(1, 101) * MS
    assert s["send_lag_ms"]["p50"] == round(np.percentile(lags, 50) / 1e6, 3)
    assert s["send_lag_ms"]["max"] == 100.0
    assert any("send lag p99" in w for w in s["warnings"])


def test_duration_without_end_uses_last_intended_send():
    rows = [row(i, latency_ms=1) for i in range(11)]  # intended every 10 ms: 0..100 ms
    s = summarize(table(rows), RunMeta(START, None))
    assert s["duration_s"] == 0.1 and s["rate"] == 110.0
    assert any("end time was not recorded" in w for w in s["warnings"])
    s2 = summarize(table(rows), None)  # no meta at all: start = first intended send
    assert s2["duration_s"] == 0.1 and s2["started_at"] == "2023-11-14T22:13:20.000Z"


def test_empty_table():
    s = summarize(SCHEMA.empty_table(), RunMeta(START, START + 10**9))
    assert (s["intended"], s["sent"], s["ok"], s["errors"], s["dropped"], s["cut"]) == (0, 0, 0, 0, 0, 0)
    assert s["error_rate"] == 0.0 and s["rate"] == 0.0 and s["duration_s"] == 1.0
    assert s["latency_ms"]["p99"] is None and s["steps"] == {} and s["phases"] == [] and s["workers"] == 0
    assert s["passed"] is True
    json.dumps(s, allow_nan=False)


def test_multi_chunk_table_with_different_dictionaries():
    t1 = table([row(i, latency_ms=i + 1, step="a") for i in range(10)])
    t2 = table([row(10 + i, latency_ms=i + 100, step="b", error="timeout" if i == 0 else None, status=0 if i == 0 else 200)
                for i in range(10)])
    joined = pa.concat_tables([t1, t2])
    assert joined.column("step").num_chunks == 2
    s = summarize(joined, None)
    s_one = summarize(joined.unify_dictionaries().combine_chunks(), None)
    assert s == s_one
    assert s["steps"]["a"]["count"] == 10 and s["steps"]["b"]["errors"] == 1
    assert s["errors_by_kind"] == {"timeout": 1}


def test_keys_of_the_contract():
    s = summarize(table([row(0, latency_ms=1)]), None)
    for key in ("intended", "sent", "dropped", "ok", "errors", "duration_s", "rate", "latency_ms",
                "service_ms", "thresholds", "passed", "cut", "completed", "error_rate", "intended_rate",
                "send_lag_ms", "errors_by_kind", "status", "steps", "phases", "workers", "name",
                "schema_version", "started_at", "warnings"):
        assert key in s
    for key in ("p50", "p90", "p95", "p99", "p999", "max"):
        assert key in s["latency_ms"] and key in s["service_ms"]


STREAMS = (  # batches, the warm-up store, second passes, rounds of a second pass
    {"batch_rows": 64},
    {"batch_rows": 64, "warmup_rows": 100},
    {"batch_rows": 64, "warmup_rows": 100, "collect_cap": 5},
    {"batch_rows": 7, "warmup_rows": 1},
)


def test_batches_warmup_and_second_pass_give_the_same_summary():
    rows = []
    for i in range(3000):
        err = ("dropped", "cut", "timeout", None, None, None)[i % 6]
        rows.append(row(i, latency_ms=(i * 7919) % 997 + 1, error=err, status=0 if err else 200,
                        step=f"s{i % 11}", phase=i // 1000, worker=i % 3, lag_ns=i * 1000))
    t = table(rows)
    serial = summarize(t, None)  # one batch: every value in the warm-up store
    for tuning in STREAMS:
        assert summarize(t, None, **tuning) == serial, tuning
    assert len(serial["steps"]) == 11 and len(serial["phases"]) == 3
    assert serial["status"] == {"0": 500, "200": 1500}


# -- schema 1.1: retries, flows, checks, per-step stats ----------------------------------


def step_row(i, step, flow_id=None, flow_ms=None, error=None, attempt=1, latency_ms=10, user=None):
    r = row(i, latency_ms=latency_ms, error=error, status=0 if error else 200, step=step)
    return {**r, "flow_id": flow_id, "flow_ns": None if flow_ms is None else int(flow_ms * MS),
            "attempt": attempt, "user": user}


def flow_rows():
    return [
        # checkout #1: both steps ok
        step_row(0, "checkout/login", 1), step_row(1, "checkout/pay", 1, flow_ms=30),
        # checkout #2: its last step fails a check
        step_row(2, "checkout/login", 2), step_row(3, "checkout/pay", 2, flow_ms=50, error="check:paid"),
        # checkout #3: login times out, its retry succeeds: the flow is ok
        step_row(4, "checkout/login", 3, error="timeout"), step_row(5, "checkout/login", 3, attempt=2),
        step_row(6, "checkout/pay", 3, flow_ms=70),
        # checkout #4: login fails a check but the flow goes on (stop_on_failure: false): failed
        step_row(7, "checkout/login", 4, error="check:status is 200"), step_row(8, "checkout/pay", 4, flow_ms=90),
        # a one-step flow named by its request, and a plain request outside any flow
        step_row(9, "health", 5, flow_ms=5, error="check:status is 200"),
        step_row(10, "root"),
    ]


def test_retries_flows_and_checks():
    s = summarize(table(flow_rows()), None)
    assert s["retries"] == 1
    assert s["checks"] == {"status is 200": 2, "paid": 1}
    assert s["errors_by_kind"] == {"check": 3, "timeout": 1}  # the fixed kinds stay fixed
    assert s["errors"] == 4 and s["intended"] == 11  # a retry is a row like any other
    assert list(s["flows"]) == ["checkout", "health"]
    checkout = s["flows"]["checkout"]
    assert (checkout["count"], checkout["ok"], checkout["failed"]) == (4, 2, 2)
    flow_ns = np.array([30, 50, 70, 90]) * MS
    for key, q in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p999", 99.9)):
        assert checkout["flow_ms"][key] == round(np.percentile(flow_ns, q) / 1e6, 3)
    assert checkout["flow_ms"]["max"] == 90.0 and checkout["flow_ms"]["min"] == 30.0
    assert s["flows"]["health"] == {"count": 1, "ok": 0, "failed": 1, "flow_ms": {
        "p50": 5.0, "p90": 5.0, "p95": 5.0, "p99": 5.0, "p999": 5.0, "max": 5.0, "mean": 5.0, "min": 5.0}}
    json.dumps(s, allow_nan=False)


def test_a_run_without_flows_retries_or_checks():
    s = summarize(table([row(i, latency_ms=i + 1, error="timeout" if i == 3 else None) for i in range(10)]), None)
    assert s["retries"] == 0 and s["flows"] == {} and s["checks"] == {}


def test_a_1_0_table_reads_as_first_attempts_outside_flows():
    old = table([row(i, latency_ms=i + 1) for i in range(10)]).select(
        ["intended_ns", "sent_ns", "latency_ns", "service_ns", "status", "error", "step", "phase", "worker", "bytes_in"])
    s = summarize(old, None)
    assert s["retries"] == 0 and s["flows"] == {} and s["latency_ms"]["max"] == 10.0


def test_every_step_has_counts_and_the_run_percentiles_keys():
    rows = [row(i, latency_ms=(i * 37) % 101 + 1, step=("a", "b/x", "b/y")[i % 3], phase=i // 100,
                error="timeout" if i % 17 == 0 else None) for i in range(300)]
    s = summarize(table(rows), None)
    df = pd.DataFrame(rows)
    lat = df.latency_ns
    for name in ("a", "b/x", "b/y"):
        st = s["steps"][name]
        sel = df.step == name
        assert st["count"] == int(sel.sum()) and st["errors"] == int((sel & df.error.notna()).sum())
        assert set(st["latency_ms"]) == set(s["latency_ms"])
        for key, q in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p999", 99.9)):
            assert st["latency_ms"][key] == round(np.percentile(lat[sel], q) / 1e6, 3)
        assert st["latency_ms"]["max"] == round(lat[sel].max() / 1e6, 3)


def test_per_phase_stats_are_numpy_s_whatever_the_batches():
    rows = [row(i, latency_ms=(i * 7919) % 997 + 1, error=("timeout", None, None)[i % 3], step=f"s{i % 7}",
                phase=i // 700) for i in range(2100)]
    t = table(rows)
    joint = summarize(t, None)
    for tuning in STREAMS:
        assert summarize(t, None, **tuning) == joint, tuning
    df = pd.DataFrame(rows)
    for (phase, grp), st in zip(df[df.latency_ns.notna()].groupby("phase"), joint["phases"]):
        assert st["latency_ms"]["p99"] == round(np.percentile(grp.latency_ns, 99) / 1e6, 3)
        assert st["latency_ms"]["mean"] == round(grp.latency_ns.mean() / 1e6, 3)


def test_send_lag_leaves_out_retries_which_wait_on_purpose():
    first = [row(i, latency_ms=5, lag_ns=MS) for i in range(50)]
    retries = [{**row(i, latency_ms=300, lag_ns=250 * MS), "attempt": 2} for i in range(50)]
    s = summarize(table(first + retries), None)
    assert s["send_lag_ms"]["max"] == 1.0 and s["retries"] == 50
    assert not any("send lag p99" in w for w in s["warnings"])
