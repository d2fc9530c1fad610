import math

import numpy as np
import pyarrow as pa

from loadray.analysis import per_second
from loadray.schema import SCHEMA

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
    df = per_second(pa.Table.from_pylist(rows, schema=SCHEMA), START)
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
    df = per_second(pa.Table.from_pylist(rows, schema=SCHEMA), None, bucket_s=0.5)
    assert list(df.index) == [0.0, 0.5, 1.0, 1.5]
    assert df["intended"].tolist() == [5, 5, 5, 5]


def test_empty():
    df = per_second(SCHEMA.empty_table(), START)
    assert len(df) == 0
    assert {"intended", "sent", "ok", "errors", "dropped", "latency_p50_ms", "latency_p99_ms"} <= set(df.columns)
