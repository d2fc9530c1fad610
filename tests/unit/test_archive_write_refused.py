"""A write the disk refuses although it is not full, for real: the directory made
immutable (root is refused too: EPERM), the file system remounted read-only (EROFS),
the directory removed under the writer (ENOENT).

Each stops the writer as a full disk does: the open parts are dropped (never renamed
into place half written), the finished parts and the manifest stay exact, one line
(exit 1) names the directory and the OS reason, and no later call fails another way.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from test_archive_diskfull import noisy_batch
from test_chunk_sink_diskfull import DOC, START, STOP_NS, chunk_rows_on_disk, llm_batch, sample_batch

from loadray.archive import SampleSink, create_run_dir, read_manifest, read_samples, write_scenario
from loadray.archive.chunk_sink import ChunkSink, close_archive
from loadray.archive.part import OpenPart
from loadray.errors import ArchiveError, DiskError, LoadrayError
from loadray.report.build import rebuild
from loadray.schema import SCHEMA

END = START + 9_000_000_000


class Clock:
    """A monotonic clock the test sets."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def sh(*args) -> None:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"{args[0]}: {done.stderr.strip()}")


@pytest.fixture
def immutable():
    """Factory: make a directory immutable (chattr +i); undone after the test."""
    made = []

    def make(directory) -> None:
        sh("chattr", "+i", directory)
        made.append(directory)

    yield make
    for directory in made:
        subprocess.run(["chattr", "-i", str(directory)], capture_output=True)


def parts(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".parquet"))


def samples_sink(run, clock, **kw) -> SampleSink:
    """Parts of 1000 rows, rolled 5 s after they opened: worker 0 has one finished part
    and 500 rows open, worker 1 300 rows open."""
    sink = SampleSink(run / "samples", START, rows_per_file=1000, row_group_rows=100, clock=clock,
                      reserve_bytes=4096, wall_clock=lambda: STOP_NS, **kw)
    sink.write(0, sample_batch(1000))
    sink.write(0, sample_batch(500, 1000))
    sink.write(1, sample_batch(300))
    return sink


def refused(sink: SampleSink, clock: Clock) -> DiskError:
    """A write whose roll finishes the open parts: the rename into place is refused."""
    clock.t = 6.0
    with pytest.raises(DiskError) as info:
        sink.write(0, sample_batch(100, 1500))
    return info.value


def test_a_samples_dir_that_refuses_writes_stops_the_sink_like_a_full_disk(tmpfs, immutable):
    run = create_run_dir(tmpfs("16m") / "run")
    clock = Clock()
    sink = samples_sink(run, clock)
    immutable(run / "samples")
    error = refused(sink, clock)

    samples = run / "samples"
    assert str(error) == (f"operation not permitted at {samples} after 1900 rows; "
                          "the archive holds the 1000 rows written before")
    assert error.exit_code == 1 and sink.failure is error and sink.rows_kept == 1000
    with pytest.raises(DiskError) as again:  # the open parts are gone: the same error, nothing else
        sink.write(1, sample_batch(10))
    assert again.value is error
    sh("chattr", "-i", samples)
    sink.close(END)  # after the error: nothing finished, nothing raised
    assert parts(samples) == ["worker-000-0000.parquet"]  # none renamed into place half written
    assert ds.dataset(samples, format="parquet").count_rows() == 1000
    manifest = read_manifest(samples)
    assert not manifest.complete and manifest.rows == 1000 and manifest.run_end_ns == STOP_NS
    assert manifest.cut["problem"] == "operation not permitted" and manifest.cut["message"] == str(error)
    assert (manifest.cut["rows_received"], manifest.cut["rows_kept"]) == (1900, 1000)


def test_a_samples_dir_removed_under_the_sink_stops_it_in_one_line(tmp_path):
    run = create_run_dir(tmp_path / "run")
    clock = Clock()
    sink = samples_sink(run, clock)
    shutil.rmtree(run / "samples")
    error = refused(sink, clock)
    assert str(error) == (f"no such file or directory at {run / 'samples'} after 1900 rows; "
                          "the archive holds the 1000 rows written before")
    sink.close(END)  # nothing raised, nothing made again
    assert list(run.iterdir()) == []


def test_a_read_only_remount_stops_the_sink_and_the_report_refuses_in_one_line(tmpfs):
    disk = tmpfs("16m")
    run = create_run_dir(disk / "run")
    write_scenario(run, DOC)
    clock = Clock()
    sink = SampleSink(run / "samples", START, rows_per_file=1000, row_group_rows=100, clock=clock,
                      reserve_bytes=4096, wall_clock=lambda: STOP_NS)
    sink.write(0, sample_batch(1000))  # one finished part, none open: the remount can happen
    sh("mount", "-o", "remount,ro", disk)
    try:
        with pytest.raises(DiskError) as info:
            sink.write(0, sample_batch(100, 1000))  # a new part cannot be opened
        assert str(info.value) == (f"read-only file system at {run / 'samples'} after 1100 rows; "
                                   "the archive holds the 1000 rows written before")
        sink.close(END)
        with pytest.raises(LoadrayError) as no_report:  # the manifest could not say the cut either
            rebuild(run)
        assert str(no_report.value) == f"read-only file system at {run}: could not write summary.json"
        assert no_report.value.exit_code == 1
    finally:
        sh("mount", "-o", "remount,rw", disk)
    table, meta = read_samples(run)  # the parts are what is there
    assert table.num_rows == 1000 and meta.skipped == () and meta.end_ns is None
    summary = rebuild(run)
    assert summary["intended"] == 1000
    assert any(w.startswith("the run's end time was not recorded") for w in summary["warnings"])


def test_a_chunks_dir_that_refuses_writes_stops_the_chunks_and_cuts_the_samples(tmpfs, immutable):
    run = create_run_dir(tmpfs("16m") / "run")
    clock = Clock()
    chunks = ChunkSink(run, clock=clock, wall_clock=lambda: STOP_NS)
    samples = SampleSink(run / "samples", START, clock=clock, reserve_bytes=4096)
    rng = np.random.default_rng(5)
    per = llm_batch(0, 2, rng).num_rows
    chunks.write(0, llm_batch(0, 2, rng))
    clock.t = 6.0
    chunks.write(0, llm_batch(0, 2, rng, 2))  # rolled: the first part is finished
    chunks.write(1, llm_batch(1, 2, rng))
    samples.write(0, sample_batch(40))
    immutable(run / "chunks")
    clock.t = 12.0
    with pytest.raises(DiskError) as info:
        chunks.write(1, llm_batch(1, 2, rng, 2))  # worker 1's part rolls: its rename is refused
    error = info.value
    assert str(error) == (f"operation not permitted at {run / 'chunks'} after {4 * per} chunk rows; "
                          f"the archive holds the {2 * per} chunk rows written before")
    assert chunks.cut == ("operation not permitted", STOP_NS)
    with pytest.raises(DiskError) as again:
        chunks.write(0, llm_batch(0, 1, rng, 9))
    assert again.value is error

    close_archive(samples, chunks, END, None)  # nothing raised: the samples are completed, cut
    assert parts(run / "chunks") == ["worker-000-0000.parquet"] and chunk_rows_on_disk(run) == 2 * per
    manifest = read_manifest(run / "samples")
    assert manifest.complete and manifest.rows == 40 and manifest.cut["message"] == str(error)
    assert manifest.run_end_ns == STOP_NS


def test_a_part_whose_write_failed_is_dropped_and_never_completed_even_with_room_again(tmpfs):
    """The part itself, whichever writer holds it: a row group that did not fit leaves
    half its bytes in the file; once room is back, completing the part must not put a
    footer after them and rename it into place. It is dropped at the failure."""
    disk = tmpfs("2m")
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (1 << 20))
    part = OpenPart(disk, "worker-000-0000.parquet", SCHEMA, 0.0)
    rng = np.random.default_rng(11)
    with pytest.raises(OSError):
        for k in range(1000):
            part.write(pa.Table.from_batches([noisy_batch(4000, rng, 4000 * k)]))
    filler.unlink()  # room again
    with pytest.raises(ArchiveError) as info:
        part.finish({"loadray.run_end_ns": "1"})
    assert str(info.value) == f"{disk / part.name}: dropped after a failed write, not completed"
    assert sorted(p.name for p in disk.iterdir()) == []  # no temp part left, none renamed into place
