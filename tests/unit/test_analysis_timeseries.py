import math

import numpy as np
import pyarrow as pa

from loadray.analysis import per_second
from loadray.schema import SCHEMA, from_rows

MS = 1_000_000
S = 1_000_000_000
START = 1_700_000_000_000_000_000


def rows_at(offsets_ns, latency_ms, error=None):
    dropped = error == "dropped"
    return [
        {
            "intended_ns": START + off,
            "sent_ns": None if dropped else START + off,
            "latency_ns": None if dropped or error == "cut" else int(lat * MS),
            "service_ns": None if dropped or error == "cut" else int(lat * MS),
            "status": 0 if error else 200,
            "error": error,
            "step": "root",
            "phase": 0,
            "worker": 0,
            "bytes_in": 0,
        }
        for off, lat in zip(offsets_ns, latency_ms)
    ]


def test_buckets_by_intended_time_with_exact_percentiles():
    rows = []
    # second 0: 100 ok at 1..100 ms
    rows += rows_at([k * 10 * MS for k in range(100)], range(1, 101))
    # second 1: empty; second 2: 10 ok at 10 ms, 2 timeouts, 3 dropped, 1 cut
    rows += rows_at([2 * S + k * MS for k in range(10)], [10] * 10)
    rows += rows_at([2 * S + 500 * MS, 2 * S + 600 * MS], [50, 60], error="timeout")
    rows += rows_at([2 * S + 700 * MS + k for k in range(3)], [0] * 3, error="dropped")
    rows += rows_at([2 * S + 999 * MS], [0], error="cut")
    df = per_second(from_rows(rows), START)
    assert list(df.index) == [0.0, 1.0, 2.0]
    assert df.index.name == "t_s"
    assert df.loc[0.0, "intended"] == 100 and df.loc[0.0, "ok"] == 100
    assert df.loc[0.0, "latency_p50_ms"] == round(np.percentile(np.arange(1, 101) * MS, 50) / 1e6, 3) == 50.5
    assert df.loc[0.0, "latency_p99_ms"] == 99.01
    assert df.loc[1.0, ["intended", "sent", "ok", "errors", "dropped", "cut"]].tolist() == [0, 0, 0, 0, 0, 0]
    assert math.isnan(df.loc[1.0, "latency_p50_ms"])
    assert df.loc[2.0, ["intended", "sent", "ok", "errors", "dropped", "cut"]].tolist() == [16, 13, 10, 2, 3, 1]
    lat2 = np.array([10] * 10 + [50, 60]) * MS
    assert df.loc[2.0, "latency_p99_ms"] == round(np.percentile(lat2, 99) / 1e6, 3)


def test_half_second_buckets_and_default_start():
    rows = rows_at([k * 100 * MS for k in range(20)], [1] * 20)  # 2 s at 10/s
    df = per_second(from_rows(rows), None, bucket_s=0.5)
    assert list(df.index) == [0.0, 0.5, 1.0, 1.5]
    assert df["intended"].tolist() == [5, 5, 5, 5]


def test_empty():
    df = per_second(SCHEMA.empty_table(), START)
    assert len(df) == 0
    assert {"intended", "sent", "ok", "errors", "dropped", "latency_p50_ms", "latency_p99_ms"} <= set(df.columns)


def test_sent_is_counted_when_sent_and_the_rest_when_intended():
    rows = rows_at([0, 10 * MS], [1, 1]) + rows_at([990 * MS], [500])
    rows[2]["sent_ns"] = START + 1500 * MS  # due in second 0, left in second 1 (queued)
    df = per_second(from_rows(rows), START)
    assert df["intended"].tolist() == [3, 0] and df["sent"].tolist() == [2, 1]
    assert df["rate"].tolist() == [2.0, 1.0] and df["intended_rate"].tolist() == [3.0, 0.0]
    assert df.loc[0.0, "latency_max_ms"] == 500.0  # latency belongs to the intended second


def test_errors_by_kind_and_rates_by_worker_per_bucket():
    from loadray.analysis import errors_over_time, phase_starts, worker_rates

    rows = rows_at([k * 100 * MS for k in range(20)], [1] * 20)  # 2 s, 10/s
    for k, r in enumerate(rows):
        r["worker"] = k % 2
        r["phase"] = 0 if k < 15 else 3
    rows += rows_at([50 * MS, 60 * MS, 1050 * MS], [5, 5, 5], error="timeout")
    rows += rows_at([70 * MS], [0], error="dropped")
    t = from_rows(rows)
    errors = errors_over_time(t, START)
    assert list(errors.columns) == ["timeout", "dropped"]
    assert errors["timeout"].tolist() == [2, 1] and errors["dropped"].tolist() == [1, 0]
    rates = worker_rates(t, START, bucket_s=0.5)
    assert list(rates.columns) == [0, 1]
    # worker 0: k = 0 2 4 | 6 8 | 10 12 14 | 16 18, plus the timeouts at 50, 60 and 1050 ms
    assert rates[0].tolist() == [10.0, 4.0, 8.0, 4.0]
    assert rates[1].tolist() == [4.0, 6.0, 4.0, 6.0]  # 100 300 | 500 700 900 | 1100 1300 | 1500..1900
    starts = phase_starts(t, START)
    assert starts.to_dict() == {0: 0.0, 3: 1.5}
