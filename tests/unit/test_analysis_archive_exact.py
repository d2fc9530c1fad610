"""The streaming analysis of a Parquet archive against plain numpy/pandas over every row.

The archive (written by the run's own sink, many parts and row groups) has latencies
that drift over the run, so the quantiles the first batches guess move: with a small
warm-up and a small collect cap the stream needs its second pass. Every figure is
then compared with pandas/numpy computed over the whole table in memory: the run's, every
step's, phase's and worker's percentiles (``linear``, to the µs), the counts, the
per-second percentiles, the spectrum and the histogram; and with the in-memory path
(one batch, every value held).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from loadray.analysis import OverviewFold, Stream, SummaryFold, summarize
from loadray.analysis.distribution import histogram, spectrum
from loadray.analysis.percentiles import BREAKDOWN_QUANTILES, QUANTILES
from loadray.archive import SampleSink, create_run_dir
from loadray.archive.source import open_source
from loadray.report.build import run_window
from loadray.schema import SCHEMA

START = 1_700_000_000_000_000_000
MS, S = 1_000_000, 1_000_000_000
ROWS, WORKERS, RATE = 120_000, 4, 4_000  # 30 s
ERRORS = np.array([None, "timeout", "http_5xx", "dropped", "cut"], dtype=object)


def _chunk(first: int, n: int, rng: np.random.Generator) -> pa.Table:
    k = np.arange(first, first + n)
    intended = START + k * (S // RATE)
    err = ERRORS[rng.choice(5, n, p=[0.95, 0.02, 0.015, 0.01, 0.005])]
    dropped, no_end = err == "dropped", np.isin(err, ["dropped", "cut"])
    drift = 1 + 2 * k / ROWS  # the median triples over the run
    service = (rng.lognormal(np.log(4 * MS), 0.7, n) * drift).astype(np.int64)
    lag = rng.integers(10_000, 2 * MS, n)
    columns = {
        "intended_ns": intended, "sent_ns": pa.array(intended + lag, mask=dropped),
        "latency_ns": pa.array(service + lag, mask=no_end), "service_ns": pa.array(service, mask=no_end),
        "status": np.where(err == None, 200, np.where(err == "http_5xx", 503, 0)).astype(np.int16),  # noqa: E711
        "error": pa.array(err, SCHEMA.field("error").type),
        "step": pa.DictionaryArray.from_arrays(pa.array((k % 3).astype(np.int16)), ["a", "b", "c"]),
        "phase": (k * 2 // ROWS).astype(np.int16), "worker": (k % WORKERS).astype(np.int16),
        "bytes_in": np.full(n, 100, np.int32), "attempt": np.ones(n, np.int8),
    }
    return pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in SCHEMA}, schema=SCHEMA)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    run = create_run_dir(tmp_path_factory.mktemp("exact") / "run")
    sink = SampleSink(run / "samples", START, rows_per_file=6_000, row_group_rows=2_000)
    rng = np.random.default_rng(7)
    for first in range(0, ROWS, 10_000):
        table = _chunk(first, 10_000, rng)
        workers = table.column("worker").to_numpy()
        for w in range(WORKERS):
            sink.write(w, table.filter(workers == w))
    sink.close(START + ROWS * (S // RATE))
    return run


@pytest.fixture(scope="module")
def streamed(archive):
    """(summary, overview, stream) of a small-batch, small-warm-up, small-cap stream."""
    source = open_source(archive, batch_rows=4_000)
    start, duration = run_window(source)
    summary_fold = SummaryFold(())
    overview = OverviewFold(start or 0, duration, ways=summary_fold.ways)
    stream = Stream(source, warmup_rows=8_000, collect_cap=5_000)
    stream.run([summary_fold, *overview.folds()])
    return summary_fold.summary(stream.registry, source.meta), overview.overview(stream.registry), stream


@pytest.fixture(scope="module")
def frame(archive) -> pd.DataFrame:
    table = ds.dataset(archive / "samples", format="parquet").to_table()
    return pd.DataFrame({
        "t": (table.column("intended_ns").to_numpy() - START) // S,
        "latency": table.column("latency_ns").to_pandas(), "service": table.column("service_ns").to_pandas(),
        "step": table.column("step").to_pandas().astype(str), "phase": table.column("phase").to_numpy(),
        "worker": table.column("worker").to_numpy(), "error": table.column("error").to_pandas().astype(object),
    })


def _ms(value) -> float:
    return round(float(value) / 1e6, 3)


def _stats(values: pd.Series) -> dict[str, float]:
    v = values.dropna().to_numpy(np.int64)
    out = {k: _ms(np.percentile(v, q)) for k, q in QUANTILES.items()}
    return {**out, "max": _ms(v.max()), "mean": _ms(v.mean()), "min": _ms(v.min())}


def test_the_stream_needed_its_second_pass(streamed):
    assert streamed[2].passes >= 2  # else the comparisons below would not test the re-read cells


def test_run_step_and_phase_figures_are_numpy_s(streamed, frame):
    summary = streamed[0]
    assert summary["latency_ms"] == _stats(frame["latency"])
    assert summary["service_ms"] == _stats(frame["service"])
    for step, rows in frame.groupby("step"):
        assert summary["steps"][step]["count"] == len(rows)
        assert summary["steps"][step]["latency_ms"] == _stats(rows["latency"]), step
    for phase in summary["phases"]:
        rows = frame[frame["phase"] == phase["phase"]]
        assert phase["intended"] == len(rows) and phase["latency_ms"] == _stats(rows["latency"])


def test_counts_are_pandas(streamed, frame):
    summary = streamed[0]
    kinds = frame["error"].value_counts().to_dict()
    assert summary["intended"] == ROWS
    assert (summary["dropped"], summary["cut"]) == (kinds["dropped"], kinds["cut"])
    assert summary["errors_by_kind"] == kinds  # dropped and cut among them
    assert summary["errors"] == sum(v for k, v in kinds.items() if k not in ("dropped", "cut"))
    assert summary["ok"] == int(frame["error"].isna().sum())


def test_the_in_memory_path_gives_the_same_summary(archive, streamed):
    table = ds.dataset(archive / "samples", format="parquet").to_table()
    meta = open_source(archive).meta
    assert summarize(table, meta, batch_rows=ROWS) == streamed[0]


def test_per_second_and_per_worker_percentiles_are_pandas(streamed, frame):
    overview = streamed[1]
    done = frame.dropna(subset=["latency"])
    for key, q in BREAKDOWN_QUANTILES.items():
        per_second = done.groupby("t")["latency"].quantile(q / 100).map(_ms)
        got = overview.series[f"latency_{key}_ms"]
        assert np.array_equal(got.to_numpy()[: per_second.size], per_second.to_numpy()), key
        per_worker = done.groupby("worker")["latency"].quantile(q / 100).map(_ms)
        assert np.array_equal(overview.workers[f"latency_{key}_ms"].to_numpy(), per_worker.to_numpy()), key
    assert np.array_equal(overview.workers["latency_max_ms"].to_numpy(),
                          done.groupby("worker")["latency"].max().map(_ms).to_numpy())


def test_spectrum_and_histogram_are_those_of_the_sorted_values(streamed, frame):
    overview = streamed[1]
    lat = np.sort(frame["latency"].dropna().to_numpy(np.int64))
    svc = np.sort(frame["service"].dropna().to_numpy(np.int64))
    pd.testing.assert_frame_equal(overview.spectrum, spectrum({"latency": lat, "service": svc}))
    pd.testing.assert_frame_equal(overview.histogram, histogram(lat))
