"""A full disk, for real: a small tmpfs (root only) filled by the sink's own parts.

The run stops with one line (exit 1), the complete parts stay readable, the manifest
says the run was cut, and the report is rebuilt from what is there once space is free.
"""

from __future__ import annotations

import errno
import os

import numpy as np
import pyarrow as pa
import pytest
from helpers import Ticks, first_attempt_columns

from loadray.archive import (
    SampleSink,
    create_run_dir,
    read_manifest,
    read_samples,
    write_scenario,
    write_summary,
)
from loadray.archive.diskspace import disk_problem, is_disk_error
from loadray.errors import DiskError
from loadray.report.build import rebuild
from loadray.schema import SCHEMA

START = 1_700_000_000_000_000_000
DOC = {"name": "full", "target": "http://127.0.0.1:9", "thresholds": ["error_rate < 50%"]}


def noisy_batch(n, rng, offset):
    """Rows that compress poorly (random times), so a few MB fill quickly."""
    i = np.arange(offset, offset + n, dtype=np.int64)
    jitter = rng.integers(0, 1 << 40, n, dtype=np.int64)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(START + i * 1_000_000 + (jitter & 0xFFFF)),
            pa.array(START + i * 1_000_000 + (jitter >> 16)),
            pa.array(rng.integers(1, 1 << 30, n, dtype=np.int64)),
            pa.array(rng.integers(1, 1 << 30, n, dtype=np.int64)),
            pa.array(np.full(n, 200, dtype=np.int16)),
            pa.array([None] * n, type=pa.dictionary(pa.int8(), pa.string())),
            pa.array(["root"] * n, type=pa.dictionary(pa.int16(), pa.string())),
            pa.array(np.zeros(n, dtype=np.int16)),
            pa.array(np.zeros(n, dtype=np.int16)),
            pa.array(rng.integers(0, 1 << 20, n, dtype=np.int32)),
            *first_attempt_columns(n),
        ],
        schema=SCHEMA,
    )


def fill_until_full(sink, rng, rows=4000):
    handed = 0
    with pytest.raises(DiskError) as info:
        for k in range(10_000):
            handed += rows
            sink.write(0, noisy_batch(rows, rng, k * rows))
    return handed, info.value


def test_disk_error_kinds():
    assert [is_disk_error(OSError(e, "x")) for e in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EACCES)] == [
        True, True, True, False]
    assert disk_problem(OSError(errno.ENOSPC, "x")) == "disk full"
    assert disk_problem(OSError(errno.EDQUOT, "x")) == "disk quota exceeded"
    assert not is_disk_error(ValueError("x"))


def test_full_disk_stops_the_sink_keeps_complete_parts_and_the_report_rebuilds(tmpfs):
    disk = tmpfs("6m")
    run = create_run_dir(disk / "run")
    write_scenario(run, DOC)
    samples = run / "samples"
    sink = SampleSink(samples, START, rows_per_file=50_000, roll_s=3.0, clock=Ticks(),
                      wall_clock=lambda: START + 4_000_000_000)
    handed, error = fill_until_full(sink, np.random.default_rng(7))

    kept = sink.rows_kept
    assert 0 < kept < handed and handed == sink.rows_written
    assert str(error) == f"disk full at {samples} after {handed} rows; the archive holds the {kept} rows written before"
    assert error.exit_code == 1 and "\n" not in str(error)
    with pytest.raises(DiskError) as again:
        sink.write(0, noisy_batch(10, np.random.default_rng(1), 0))
    assert str(again.value) == str(error)
    sink.close(START + 9_000_000_000)  # after a disk error: no raise; the run ended at the error
    assert sorted(p.name for p in samples.iterdir() if p.name.startswith(".")) == []  # no temp part, no reserve

    manifest = read_manifest(samples)
    assert not manifest.complete and manifest.rows == kept and manifest.run_end_ns == START + 4_000_000_000
    assert manifest.cut["message"] == str(error) and manifest.cut["rows_received"] == handed
    table, meta = read_samples(run)  # reading needs no space
    assert table.num_rows == kept and meta.skipped == () and meta.cut == str(error)
    assert table.column("intended_ns").to_pylist()[:3] == noisy_batch(3, np.random.default_rng(7), 0).column(0).to_pylist()

    # the disk is still full: the report cannot be written, one line, rows untouched
    filler = disk / "filler"
    with open(filler, "wb") as f:
        with pytest.raises(OSError):
            while True:
                f.write(os.urandom(1 << 16))
                f.flush()
    with pytest.raises(DiskError) as no_room:
        rebuild(run)
    assert str(no_room.value) == f"disk full at {run}: could not write summary.json"
    assert no_room.value.exit_code == 1
    assert not (run / "summary.json").exists() and read_samples(run)[0].num_rows == kept
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []  # no temp file left

    filler.unlink()  # space again: `loadray report` rebuilds from what is there
    summary = rebuild(run)
    assert summary["intended"] == kept and summary["aborted"] == str(error)
    assert f"the run was stopped early: {error}" in summary["warnings"]
    assert str(error) in (run / "report.html").read_text()


def test_full_disk_at_the_first_write_keeps_nothing_and_says_so(tmpfs):
    disk = tmpfs("1m")
    samples = disk / "samples"
    sink = SampleSink(samples, START, reserve_bytes=0, clock=Ticks())
    (disk / "filler").write_bytes(b"\0" * (os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize - 4096))
    handed, error = fill_until_full(sink, np.random.default_rng(3), rows=20_000)
    assert str(error) == f"disk full at {samples} after {handed} rows; the archive holds the 0 rows written before"
    assert read_samples(disk)[0].num_rows == 0


def test_no_room_for_the_reserve_is_a_disk_error_at_start(tmpfs):
    disk = tmpfs("1m")
    with pytest.raises(DiskError, match=r"^disk full at .*/samples after 0 rows; the archive holds the 0 rows"):
        SampleSink(disk / "samples", START, reserve_bytes=8 << 20)


def test_full_disk_writing_the_scenario_or_summary_is_one_line(tmpfs):
    disk = tmpfs("1m")
    run = create_run_dir(disk / "run")
    (disk / "filler").write_bytes(b"\0" * (os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize))
    with pytest.raises(DiskError) as info:
        write_scenario(run, {"name": "x", "blob": "y" * (64 << 10)})
    assert str(info.value) == f"disk full at {run}: could not write scenario.yaml"
    with pytest.raises(DiskError, match="could not write summary.json$"):
        write_summary(run, {"blob": "y" * (64 << 10)})
    assert os.listdir(run) == []
