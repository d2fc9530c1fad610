"""A full disk under the chunks/ side table, for real: a small tmpfs (root only) filled
by the chunk sink's own parts, mid-run or while the last parts are finished.

Like samples: the run stops with one line naming chunks/ (exit 1), the open parts are
dropped (never renamed into place half written), the finished parts stay readable, the
samples are completed and their manifest records the cut, and the report is rebuilt
from what is there, saying the run was stopped early.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import Ticks, first_attempt_columns

from loadray.archive import SampleSink, create_run_dir, read_manifest, read_samples, write_scenario
from loadray.archive.chunk_sink import ChunkSink, close_archive
from loadray.archive.chunk_source import open_chunks
from loadray.archive.fs import locate
from loadray.errors import DiskError
from loadray.report.build import rebuild
from loadray.schema import SCHEMA
from loadray.stream.table import CHUNK_SCHEMA

START = 1_700_000_000_000_000_000
STOP_NS = START + 4_000_000_000  # the wall clock when the disk stops the chunks
TOKENS = 50
DOC = {"name": "llm-full", "target": "http://127.0.0.1:9", "thresholds": ["error_rate < 50%"]}


def llm_batch(worker: int, requests: int, rng, first: int = 0) -> pa.RecordBatch:
    """Whole requests of an LLM step (a role chunk, then TOKENS token chunks) with
    random gaps, so that they compress poorly and a few MB fill quickly."""
    n = TOKENS + 1
    request = np.repeat(np.arange(first, first + requests, dtype=np.int64), n)
    index = np.tile(np.arange(n, dtype=np.int32), requests)
    t = np.cumsum(rng.integers(1_000_000, 30_000_000, (requests, n)), axis=1).ravel()
    rows = len(request)
    return pa.RecordBatch.from_arrays([
        pa.array(np.full(rows, worker, np.int16)),
        pa.array(request),
        pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int16)), pa.array(["chat"])),
        pa.array(np.ones(rows, np.int8)),
        pa.array(START + request * 50_000_000 + worker),
        pa.array(index),
        pa.array(t),
        pa.array(rng.integers(5, 40, rows).astype(np.int32)),
        pa.array(np.where(index == 0, 0, 1).astype(np.int32)),
        pa.array([None] * rows, pa.int32()),
    ], schema=CHUNK_SCHEMA)


def sample_batch(n: int, first: int = 0) -> pa.RecordBatch:
    i = np.arange(first, first + n, dtype=np.int64)
    return pa.RecordBatch.from_arrays([
        pa.array(START + i * 50_000_000), pa.array(START + i * 50_000_000 + 1_000),
        pa.array(np.full(n, 1_200_000_000, np.int64)), pa.array(np.full(n, 1_199_000_000, np.int64)),
        pa.array(np.full(n, 200, np.int16)), pa.array([None] * n, type=pa.dictionary(pa.int8(), pa.string())),
        pa.array(["chat"] * n, type=pa.dictionary(pa.int16(), pa.string())),
        pa.array(np.zeros(n, np.int16)), pa.array(np.zeros(n, np.int16)), pa.array(np.full(n, 2_000, np.int32)),
        *first_attempt_columns(n),
    ], schema=SCHEMA)


def noisy_samples(n: int, rng, first: int = 0) -> pa.RecordBatch:
    """Sample rows with random latencies: they compress poorly."""
    return sample_batch(n, first).set_column(2, "latency_ns", pa.array(rng.integers(1, 1 << 40, n)))


def fill_until_full(sink: ChunkSink, rng, requests: int = 60) -> tuple[int, DiskError]:
    handed = 0
    with pytest.raises(DiskError) as info:
        for k in range(10_000):
            batch = llm_batch(0, requests, rng, k * requests)
            handed += batch.num_rows
            sink.write(0, batch)
    return handed, info.value


def chunk_rows_on_disk(run) -> int:
    source = open_chunks(locate(run))
    return 0 if source is None else sum(t.num_rows for t in source.batches(["t_ns"]))


def hidden(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def fill_disk(disk, leave: int = 0):
    """Fill what is left of ``disk`` but ``leave`` bytes, to the last byte if 0."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    with open(filler, "ab", buffering=0) as f:
        while not leave:
            try:
                f.write(b"\0" * 512)
            except OSError:
                break
    return filler


def test_full_disk_writing_chunks_stops_the_sink_and_keeps_the_finished_parts(tmpfs):
    disk = tmpfs("3m")
    run = create_run_dir(disk / "run")
    sink = ChunkSink(run, roll_s=3.0, clock=Ticks(), wall_clock=lambda: STOP_NS)
    handed, error = fill_until_full(sink, np.random.default_rng(7))

    kept = sink.rows_kept
    assert 0 < kept < handed and sink.rows == handed
    assert str(error) == (f"disk full at {run / 'chunks'} after {handed} chunk rows; "
                          f"the archive holds the {kept} chunk rows written before")
    assert error.exit_code == 1 and "\n" not in str(error)
    assert sink.failure is error and sink.cut == ("disk full", STOP_NS)
    assert hidden(run / "chunks") == []  # the open part is dropped, not left half written
    assert chunk_rows_on_disk(run) == kept
    with pytest.raises(DiskError) as again:
        sink.write(0, llm_batch(0, 1, np.random.default_rng(1)))
    assert again.value is error and sink.rows == handed
    parts = sorted(p.name for p in (run / "chunks").iterdir())
    sink.close()  # after a disk error: nothing is finished, nothing raised
    assert sorted(p.name for p in (run / "chunks").iterdir()) == parts
    assert all(pq.ParquetFile(run / "chunks" / p).metadata.num_rows > 0 for p in parts)


def test_full_disk_finishing_the_chunk_parts_at_close_is_a_disk_error(tmpfs):
    disk = tmpfs("2m")
    run = create_run_dir(disk / "run")
    sink = ChunkSink(run, clock=lambda: 0.0)  # never rolls: every part is open at close
    rng = np.random.default_rng(3)
    for k in range(60):  # one row group a batch: a footer of many KB, more than a page's slack
        sink.write(k % 2, llm_batch(k % 2, 1, rng, k))
    fill_disk(disk)
    with pytest.raises(DiskError) as info:
        sink.close()
    assert str(info.value) == (f"disk full at {run / 'chunks'} after {60 * (TOKENS + 1)} chunk rows; "
                               "the archive holds the 0 chunk rows written before")
    assert os.listdir(run / "chunks") == []  # no part half written, under any name
    sink.close()  # once more: the same failure is not raised twice
    assert sink.failure is info.value


def test_a_full_disk_under_chunks_cuts_the_run_the_samples_are_completed_and_the_report_says_so(tmpfs):
    disk = tmpfs("4m")
    run = create_run_dir(disk / "run")
    write_scenario(run, DOC)
    samples = SampleSink(run / "samples", START, clock=lambda: 0.0)  # its rows wait in memory: the chunks fill the disk
    chunks = ChunkSink(run, roll_s=3.0, clock=Ticks(), wall_clock=lambda: STOP_NS)
    rng = np.random.default_rng(11)
    with pytest.raises(DiskError) as info:
        for k in range(10_000):  # the samples of each batch's requests, then their chunks
            samples.write(0, sample_batch(60, k * 60))
            chunks.write(0, llm_batch(0, 60, rng, k * 60))
    error, received = info.value, samples.rows_written
    assert str(error).startswith(f"disk full at {run / 'chunks'} after ")

    close_archive(samples, chunks, START + 60_000_000_000, {"events": []})  # the run's planned end is later
    manifest = read_manifest(run / "samples")
    assert manifest.rows == received and manifest.run_end_ns == STOP_NS  # every sample; the run ended at the cut
    assert manifest.cut["message"] == str(error) and manifest.cut["problem"] == "disk full"
    assert manifest.cut["rows_received"] == manifest.cut["rows_kept"] == received
    assert hidden(run / "samples") == [] and hidden(run / "chunks") == []
    assert read_samples(run)[0].num_rows == received

    summary = rebuild(run)  # `loadray report` afterwards: from the finished chunk parts only
    assert summary["intended"] == received and summary["aborted"] == str(error)
    assert f"the run was stopped early: {error}" in summary["warnings"]
    assert summary["steps"]["chat"]["llm"]["requests"] == chunks.rows_kept // (TOKENS + 1) > 0
    assert str(error) in (run / "report.html").read_text()


def test_after_a_full_disk_under_samples_the_open_chunk_parts_are_dropped_and_the_samples_error_stays(tmpfs):
    disk = tmpfs("4m")
    run = create_run_dir(disk / "run")
    samples = SampleSink(run / "samples", START, rows_per_file=10_000_000, row_group_rows=1, clock=lambda: 0.0)
    chunks = ChunkSink(run, clock=lambda: 0.0)
    chunks.write(1, llm_batch(1, 20, np.random.default_rng(5)))
    noisy = np.random.default_rng(9)
    with pytest.raises(DiskError) as info:
        for k in range(100_000):
            samples.write(0, noisy_samples(2_000, noisy, k * 2_000))
    close_archive(samples, chunks, START + 9_000_000_000, None)  # raises nothing more: the run unwinds with it
    assert str(info.value).startswith(f"disk full at {run / 'samples'} after ")
    assert read_manifest(run / "samples").cut["message"] == str(info.value)
    assert os.listdir(run / "chunks") == [] and chunks.failure is None and chunks.rows_kept == 0


def test_a_full_disk_finishing_chunks_at_the_end_is_the_runs_disk_error_with_every_sample_kept(tmpfs):
    disk = tmpfs("4m")
    run = create_run_dir(disk / "run")
    samples = SampleSink(run / "samples", START, clock=lambda: 0.0)
    chunks = ChunkSink(run, clock=lambda: 0.0, wall_clock=lambda: START + 20_000_000_000)
    rng = np.random.default_rng(4)
    for k in range(60):
        samples.write(k % 2, sample_batch(1, k))
        chunks.write(k % 2, llm_batch(k % 2, 1, rng, k))
    fill_disk(disk)  # the samples' reserve (1 MiB) stays theirs
    with pytest.raises(DiskError) as info:
        close_archive(samples, chunks, START + 10_000_000_000, None)
    assert str(info.value) == (f"disk full at {run / 'chunks'} after {60 * (TOKENS + 1)} chunk rows; "
                               "the archive holds the 0 chunk rows written before")
    manifest = read_manifest(run / "samples")
    assert manifest.complete and manifest.rows == 60 and manifest.run_end_ns == START + 10_000_000_000
    assert manifest.cut["message"] == str(info.value)
    assert read_samples(run)[0].num_rows == 60 and os.listdir(run / "chunks") == []


def test_samples_that_no_longer_fit_after_a_full_disk_under_chunks_say_both_cuts_in_one_line(tmpfs):
    disk = tmpfs("3m")
    run = create_run_dir(disk / "run")
    samples = SampleSink(run / "samples", START, clock=lambda: 0.0, reserve_bytes=16 << 10)
    rng = np.random.default_rng(2)
    for k in range(30):  # ~1 MB of samples waiting in memory for their part to complete
        samples.write(k % 2, noisy_samples(2_000, rng, k * 2_000))
    chunks = ChunkSink(run, roll_s=3.0, clock=Ticks(), wall_clock=lambda: STOP_NS)
    _, chunk_error = fill_until_full(chunks, rng)
    with pytest.raises(DiskError) as info:
        close_archive(samples, chunks, START + 60_000_000_000, None)
    assert str(info.value) == (f"{chunk_error}; then disk full at {run / 'samples'} after 60000 rows; "
                               "the archive holds the 0 rows written before")
    assert "\n" not in str(info.value) and info.value.exit_code == 1
    manifest = read_manifest(run / "samples")
    assert not manifest.complete and manifest.rows == 0 and manifest.run_end_ns == STOP_NS
    assert manifest.cut["message"] == str(info.value) and manifest.cut["rows_received"] == 60_000
    assert hidden(run / "samples") == [] and hidden(run / "chunks") == []
    assert chunk_rows_on_disk(run) == chunks.rows_kept > 0
