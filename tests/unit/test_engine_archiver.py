"""A worker writing its own parts, in fake time: a row leaves the outbox only once the
part holding it is complete (the durable part is the acknowledgement), the driver gets
receipts instead of rows, and a store that refuses a write keeps every row for the
next attempt."""

from __future__ import annotations

import shutil

import pyarrow.dataset as ds
from helpers import JumpClock, run_in_fake_time
from test_engine_worker import S, memory_factory, scenario

from loadray.engine.archiver import ArchiveSpec, writes_directly
from loadray.engine.worker import LoadWorker, WorkerSpec


def run_writing(tmp_path, at_second=None):
    """A 3 s run at 200/s writing to ``tmp_path``; ``at_second(worker)`` is called 2 s in."""
    clock = JumpClock()
    seen = []

    async def main():
        worker = LoadWorker(WorkerSpec(0, 1, scenario()), clock, memory_factory, archive=str(tmp_path))
        worker.archive_offload = False
        await worker.prepare()
        start = clock.wall_ns() + S

        def middle():
            seen.append(worker.drain(0))
            if at_second is not None:
                at_second(worker)

        clock.call_at(clock.now_ns + 3 * S, middle)
        await worker.run(start)
        return worker

    return run_in_fake_time(main, clock), seen


def test_rows_stay_in_the_outbox_until_their_part_is_complete_then_only_a_receipt_is_handed_out(tmp_path):
    worker, (middle,) = run_writing(tmp_path)
    assert middle.parcels == [] and middle.receipts == [] and middle.unwritten == 200  # flushed, in the open part
    drained = worker.drain(0)
    (receipt,) = drained.receipts
    assert drained.parcels == [] and drained.unwritten == 0 and len(worker.outbox) == 0 and drained.finished
    assert (receipt.seq, receipt.part.file, receipt.part.rows, receipt.part.arrivals) == (
        1, "worker-000-0000.parquet", 600, 600)
    assert drained.last_seq == 1 and worker.drain(1).receipts == []
    assert ds.dataset(tmp_path / "samples", format="parquet").count_rows() == 600


def test_a_store_that_refuses_keeps_every_row_and_the_next_attempt_writes_them(tmp_path):
    (tmp_path / "samples").write_text("in the way")  # samples/ cannot be made

    def heal(worker):
        (tmp_path / "samples").unlink()

    worker, (middle,) = run_writing(tmp_path, heal)
    assert middle.archive_error is not None and "samples" in middle.archive_error
    assert middle.receipts == [] and middle.unwritten == 200
    drained = worker.drain(0)
    assert drained.archive_error is None and drained.unwritten == 0
    assert sum(r.part.rows for r in drained.receipts) == 600
    assert ds.dataset(tmp_path / "samples", format="parquet").count_rows() == 600


def test_which_workers_write_their_own_parts():
    local, shared = ArchiveSpec("/runs/x", "node-a"), ArchiveSpec("s3://bucket/runs/x", "node-a")
    assert [writes_directly(local, n) for n in ("node-a", "node-b")] == [True, False]
    assert [writes_directly(shared, n) for n in ("node-a", "node-b")] == [True, True]
    assert writes_directly(ArchiveSpec("file:///mnt/shared/x", "node-a"), "node-b")
    assert not writes_directly(None, "node-a") and not writes_directly(ArchiveSpec("/runs/x", ""), "")


def test_a_worker_completes_no_part_once_the_driver_closed_the_run(tmp_path):
    """The driver's final listing came while the worker's part was open (it was cut off):
    the part is never completed, its rows stay with the worker (the run counts them as
    unknown) and nothing in samples/ is left for a reader to take."""
    from loadray.archive.fence import close_run
    from loadray.archive.fs import locate

    worker, (middle,) = run_writing(tmp_path, lambda w: close_run(locate(str(tmp_path)), 0))
    assert middle.unwritten == 200 and middle.receipts == []
    drained = worker.drain(0)
    assert drained.finished and drained.receipts == [] and drained.unwritten == 600
    assert "the run was closed" in drained.archive_error
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["_closed"]


def test_a_local_directory_that_refuses_the_part_is_a_disk_problem_the_driver_stops_on(tmp_path):
    """Not a store that may answer again: samples/ removed under the worker, so its part
    cannot be renamed into place. The part is dropped, its rows stay in the outbox, and
    the driver hears the OS reason as it hears a full disk (and stops the run)."""

    def remove(worker):
        shutil.rmtree(tmp_path / "samples")

    worker, (middle,) = run_writing(tmp_path, remove)
    drained = worker.drain(0)
    assert drained.disk_problem == "no such file or directory" and "samples" in drained.archive_error
    assert drained.receipts == [] and drained.unwritten == 600 and not (tmp_path / "samples").exists()
