import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from loadray.analysis.percentiles import (
    QUANTILES,
    latency_stats,
    percentile_ms,
    percentiles_ms,
    quantile_key,
)

MS = 1_000_000


def test_one_to_thousand_ms_matches_numpy_exactly():
    values = np.arange(1, 1001, dtype=np.int64) * MS
    stats = latency_stats(values)
    assert stats == {
        "p50": 500.5,
        "p90": 900.1,
        "p95": 950.05,
        "p99": 990.01,
        "p999": 999.001,
        "max": 1000.0,
        "mean": 500.5,
        "min": 1.0,
    }
    for key, q in QUANTILES.items():
        assert stats[key] == round(float(np.percentile(values, q)) / 1e6, 3)


def test_same_number_as_pandas_and_pyarrow():
    rng = np.random.default_rng(7)
    values = rng.integers(0, 5_000_000_000, 10_001)
    for q in (1, 50, 75.5, 99, 99.9, 99.99):
        ours = percentile_ms(values, q)
        assert ours == round(float(pd.Series(values).quantile(q / 100)) / 1e6, 3)
        assert ours == round(pc.quantile(pa.array(values), q=q / 100)[0].as_py() / 1e6, 3)


def test_empty_gives_none():
    assert latency_stats(np.array([], dtype=np.int64)) == {k: None for k in (*QUANTILES, "max", "mean", "min")}
    assert percentile_ms([], 99) is None
    assert percentiles_ms([], [50, 99]) == [None, None]


def test_single_value():
    assert latency_stats(np.array([1_234_567])) == {k: 1.235 for k in (*QUANTILES, "max", "mean", "min")}


def test_overwrite_reorders_but_gives_the_same_numbers():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 10**9, 1000)
    copy = values.copy()
    assert latency_stats(values, overwrite=True) == latency_stats(copy)
    assert sorted(values) == sorted(copy)


def test_quantile_key():
    assert [quantile_key(q) for q in (50, 99.0, 99.9, 99.99)] == ["p50", "p99", "p999", "p9999"]
