"""A run archived on an S3-compatible object store reads like a local one.

A real S3 server (moto's, on 127.0.0.1) holds a copy of a 3-worker archive; pyarrow's
``S3FileSystem`` talks to it over HTTP (nothing is mocked). ``loadray report``,
``loadray compare``, ``loadray export``, ``loadray.open_run``, DuckDB and polars read
both copies and agree on every count and on p99.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from cli_support import loadray
from s3_support import s3_server
from loadray.archive import SampleSink, create_run_dir, write_scenario
from loadray.schema import SCHEMA


START = 1_700_000_000_000_000_000
MS, S = 1_000_000, 1_000_000_000
BUCKET = "loadray-test"
DOC = {"name": "s3-smoke", "target": "http://127.0.0.1:8080", "workers": 3,
       "load": {"model": "open", "phases": [{"duration": "6s", "rate": 1000}]},
       "requests": [{"name": "home"}, {"name": "search"}], "thresholds": ["p99 < 1s", "error_rate < 5%"]}


def _rows(worker: int, n: int, rng: np.random.Generator) -> pa.Table:
    k = np.arange(n) * 3 + worker
    intended = START + k * MS
    err = rng.choice(np.array([None] * 46 + ["timeout", "http_5xx", "dropped", "cut"], dtype=object), n)
    dropped, no_end = err == "dropped", np.isin(err, ["dropped", "cut"])
    service = rng.lognormal(np.log(4 * MS), 0.6, n).astype(np.int64)
    lag = rng.integers(10_000, 900_000, n)
    columns = {
        "intended_ns": intended, "sent_ns": pa.array(intended + lag, mask=dropped),
        "latency_ns": pa.array(service + lag, mask=no_end), "service_ns": pa.array(service, mask=no_end),
        "status": np.where(err == None, 200, np.where(err == "http_5xx", 503, 0)).astype(np.int16),  # noqa: E711
        "error": pa.array(err, SCHEMA.field("error").type),
        "step": pa.DictionaryArray.from_arrays(pa.array((k % 2).astype(np.int16)), ["home", "search"]),
        "phase": np.zeros(n, np.int16), "worker": np.full(n, worker, np.int16),
        "bytes_in": np.full(n, 512, np.int32), "attempt": np.ones(n, np.int8),
    }
    return pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in SCHEMA}, schema=SCHEMA)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """A 6 s, 3-worker archive (18 000 rows, parts rolled every 1000 rows)."""
    run = create_run_dir(tmp_path_factory.mktemp("s3") / "run")
    write_scenario(run, DOC)
    rng = np.random.default_rng(12)
    sink = SampleSink(run / "samples", START, rows_per_file=1000)
    for worker in range(3):
        table = _rows(worker, 6000, rng)
        for at in range(0, table.num_rows, 500):
            sink.write(worker, table.slice(at, 500))
    sink.close(START + 6 * S)
    return run


@pytest.fixture(scope="module")
def s3(local_run):
    """The S3 server, the environment that points every client at it, and the archive's
    URI (the run directory copied up without its summary and report)."""
    with s3_server(BUCKET) as server:
        pafs.copy_files(str(local_run), f"{BUCKET}/runs/one/run", source_filesystem=pafs.LocalFileSystem(),
                        destination_filesystem=server.fs)
        yield {"env": server.env, "fs": server.fs, "uri": f"s3://{BUCKET}/runs/one/run", "port": server.port}


def _cli(*args):
    done = loadray(*args, timeout=240)
    assert done.returncode in (0, 99), done.stderr
    return done


@pytest.fixture(scope="module")
def reports(local_run, s3):
    """``loadray report`` of both copies: (local summary, S3 summary, S3 report bytes)."""
    _cli("report", local_run)
    _cli("report", s3["uri"])
    fs, key = s3["fs"], f"{BUCKET}/runs/one/run"
    with fs.open_input_stream(f"{key}/summary.json") as f:
        remote = json.loads(f.read())
    with fs.open_input_stream(f"{key}/report.html") as f:
        page = f.read()
    return json.loads((local_run / "summary.json").read_text()), remote, page


def test_report_of_the_s3_copy_writes_the_same_summary_and_report_there(local_run, s3, reports):
    local, remote, page = reports
    assert remote == local
    assert remote["intended"] == 18000 and remote["workers"] == 3
    assert remote["intended"] == remote["sent"] + remote["dropped"]
    assert page == (local_run / "report.html").read_bytes()
    names = {i.base_name for i in s3["fs"].get_file_info(pafs.FileSelector(f"{BUCKET}/runs/one/run/plots"))}
    assert "latency.png" in names and "spectrum.png" in names


def test_compare_reads_both_and_finds_no_change(local_run, s3, reports):
    from loadray.report.text import format_ms

    done = _cli("compare", s3["uri"], local_run)
    assert done.returncode == 0 and "PASSED" in done.stdout and "(measured +0%)" in done.stdout
    p99 = [line for line in done.stdout.splitlines() if line.strip().startswith("latency p99")]
    assert p99 and p99[0].split()[2:4] == [format_ms(reports[0]["latency_ms"]["p99"])] * 2


def test_open_run_on_s3_agrees_with_the_local_copy(local_run, s3, reports):
    import loadray

    remote, local = loadray.open_run(s3["uri"]), loadray.open_run(local_run)
    assert remote.summary == local.summary == reports[0]
    assert remote.rows == 18000 and remote.dataset.count_rows() == 18000 and remote.table.num_rows == 18000
    steps_r, steps_l = remote.percentiles(by="step"), local.percentiles(by="step")
    assert steps_r.equals(steps_l)
    assert steps_r.loc["home", "latency_p99_ms"] == reports[0]["steps"]["home"]["latency_ms"]["p99"]
    assert remote.timeseries().equals(local.timeseries())
    assert remote.label == "run" and remote.name == "s3-smoke"


def test_duckdb_and_polars_read_the_s3_archive(s3, reports):
    import duckdb
    import polars as pl

    import loadray

    summary = reports[0]
    samples = loadray.open_run(s3["uri"]).dataset  # Arrow's S3 file system underneath
    n, p99 = duckdb.sql(
        "SELECT count(*), round(quantile_cont(latency_ns, 0.99) FILTER (WHERE error IS NULL OR "
        "error NOT IN ('dropped', 'cut', 'fenced')) / 1e6, 3) FROM samples").fetchall()[0]
    assert (n, p99) == (summary["intended"], summary["latency_ms"]["p99"])
    options = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_region": "us-east-1",
               "aws_endpoint_url": f"http://127.0.0.1:{s3['port']}", "aws_allow_http": "true"}
    frame = pl.scan_parquet(f"{s3['uri']}/samples/*.parquet", storage_options=options)
    done = ~pl.col("error").cast(pl.Utf8).is_in(["dropped", "cut", "fenced"]).fill_null(False)
    got = frame.select(pl.len().alias("n"), pl.col("latency_ns").filter(done).quantile(0.99, "linear").alias("p99"))
    row = got.collect().row(0)
    assert row[0] == summary["intended"] and round(row[1] / 1e6, 3) == summary["latency_ms"]["p99"]


def test_export_streams_the_s3_archive(s3, reports):
    done = _cli("export", s3["uri"], "--format", "jsonl", "--columns", "worker,latency_ns")
    lines = done.stdout.splitlines()
    assert len(lines) == reports[0]["intended"]
    assert {json.loads(line)["worker"] for line in lines} == {0, 1, 2}
