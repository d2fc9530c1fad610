"""The samples dataset is readable unchanged by pyarrow.dataset, pandas, DuckDB and polars,
which get the same count and p99 as loadray (numpy's linear method everywhere)."""

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from loadray.report import rebuild
from loadray.schema import SCHEMA_VERSION, SCHEMA_VERSION_KEY
from test_report_build import DOC, make_run

COMPLETED = "error IS NULL OR error NOT IN ('dropped', 'cut')"


def test_duckdb_and_polars_get_loadrays_count_and_p99(tmp_path):
    run = make_run(tmp_path, DOC)
    s = rebuild(run)
    files = str(run / "samples" / "*.parquet")

    con = duckdb.connect()
    count, p99, svc_p99 = con.execute(
        f"SELECT count(*), "
        f"quantile_cont(latency_ns, 0.99) FILTER (WHERE {COMPLETED}), "
        f"quantile_cont(service_ns, 0.99) FILTER (WHERE {COMPLETED}) FROM read_parquet('{files}')"
    ).fetchone()
    assert count == s["intended"] == 3000
    assert round(p99 / 1e6, 3) == s["latency_ms"]["p99"] and round(svc_p99 / 1e6, 3) == s["service_ms"]["p99"]
    by_step = dict(con.execute(
        f"SELECT step, quantile_cont(latency_ns, 0.99) FROM read_parquet('{files}') WHERE {COMPLETED} GROUP BY step"
    ).fetchall())
    assert {k: round(v / 1e6, 3) for k, v in by_step.items()} == {k: v["latency_ms"]["p99"] for k, v in s["steps"].items()}

    lazy = pl.scan_parquet(files)
    assert lazy.select(pl.len()).collect().item() == s["intended"]
    done = lazy.filter(pl.col("error").is_null() | ~pl.col("error").cast(pl.Utf8).is_in(["dropped", "cut"]))
    p99 = done.select(pl.col("latency_ns").quantile(0.99, interpolation="linear")).collect().item()
    assert round(p99 / 1e6, 3) == s["latency_ms"]["p99"]


def test_pyarrow_dataset_and_pandas_read_it_unchanged(tmp_path):
    run = make_run(tmp_path, DOC)
    dataset = ds.dataset(run / "samples", format="parquet")
    assert dataset.count_rows() == 3000
    assert len(pd.read_parquet(run / "samples")) == 3000
    meta = pq.read_metadata(next((run / "samples").glob("*.parquet"))).metadata
    assert meta[SCHEMA_VERSION_KEY] == SCHEMA_VERSION.encode()
