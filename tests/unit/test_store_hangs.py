"""A store that stops answering (a hung MinIO, a black-holed endpoint: the connection is
accepted, no byte comes back) in the middle of a run, on a real S3 server (moto's, on
127.0.0.1) whose requests :meth:`s3_support.Faults.freeze` holds unanswered until
:meth:`~s3_support.Faults.thaw` serves them, late.

- A worker's event loop (its sends, its lease) is never held up by the store: also the
  delete of a part whose upload failed runs in the writing thread.
- An upload the worker gave up on that lands once the store answers again (its rows were
  written again in the next part) is not listed, and leaves the store: every row once.
- At the end, a store that does not answer ends the run in bounded time, exit 1, one line
  naming the URI and where the rows are.
"""

from __future__ import annotations

import asyncio
import time

import pyarrow.fs as pafs
import pytest
from test_archive_part_series import START, rows

from loadray.api import open_run
from loadray.archive.fs import RunLocation, StoreSilent, locate, silence
from loadray.archive.ledger import PartLedger, unlisted_parts
from loadray.archive.manifest import Manifest, PartEntry
from loadray.archive.part_series import PartSeries
from loadray.archive.run_place import write_scenario_at
from loadray.driver_archive import silent_store
from loadray.engine.archiver import Archiver
from loadray.engine.outbox import Outbox
from loadray.errors import DiskError

pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3():
    from s3_support import s3_server

    with s3_server("hangs") as server:
        yield server


def impatient(s3, prefix: str, wait_s: float = 1.0) -> RunLocation:
    """The run at s3://hangs/PREFIX through a client that gives up on a silent store after
    ``wait_s`` without a byte, in one attempt (the SDK's default: 3 s, 3 attempts), so a
    test of a hang costs a second or two."""
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{s3.port}", scheme="http", region="us-east-1",
                           access_key="testing", secret_key="testing", allow_delayed_open=True,
                           request_timeout=wait_s, connect_timeout=wait_s,
                           retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1))
    return RunLocation(fs, f"hangs/{prefix}", f"s3://hangs/{prefix}")


def listing(s3, prefix: str) -> list[str]:
    found = s3.fs.get_file_info(pafs.FileSelector(f"hangs/{prefix}", allow_not_found=True, recursive=True))
    return sorted(i.base_name for i in found if i.type == pafs.FileType.File)


def free_port() -> int:
    from s3_support import free_port

    return free_port()


def test_a_delete_the_store_never_answers_does_not_hold_up_the_workers_event_loop(s3):
    """The part's upload is refused, then the delete of what may have landed hangs (1 s
    here, ~11 s with the SDK's defaults; the check for the run's end before the upload
    hangs too, in the writing thread): before, it ran on the event loop, which sent
    nothing and renewed no lease meanwhile (a 60 s run whose store froze for 47 s: both
    workers fenced themselves, were called lost, 145 requests never sent)."""
    outbox = Outbox()
    outbox.put(rows(50, worker=2).combine_chunks().to_batches()[0], 50)
    archiver = Archiver(lambda: PartSeries(impatient(s3, "stall"), 2, 0, START), outbox)

    async def main() -> tuple[float, float]:
        gaps, last = [0.0], time.monotonic()

        async def tick() -> None:
            nonlocal last
            while True:
                await asyncio.sleep(0.01)
                gaps.append(time.monotonic() - last)
                last = time.monotonic()

        ticker = asyncio.ensure_future(tick())
        archiver.start()
        began = time.monotonic()
        await archiver.finish()
        took = time.monotonic() - began
        await asyncio.sleep(0.05)  # the ticker notes the last gap
        ticker.cancel()
        return max(gaps), took

    s3.faults.refuse_writes = True
    s3.faults.freeze("HEAD", "DELETE")  # pyarrow's delete asks whether the object is there first
    try:
        longest_gap, took = asyncio.run(main())
    finally:
        s3.faults.refuse_writes = False
        s3.faults.thaw()
    assert archiver.error is not None and "ACCESS_DENIED" in archiver.error
    assert took >= 1.8 and s3.faults.held == 2  # the check for _closed, then the delete waited...
    assert longest_gap < 0.3  # ...in the writing thread, not on the event loop
    assert outbox.rows == 50 and listing(s3, "stall") == []  # the rows wait for the next attempt


def test_an_upload_given_up_on_that_lands_later_is_not_listed_and_leaves_the_store(s3):
    """The store as a late upload leaves it: part 0 (batches 1-2) landed after its worker
    gave up on it and wrote batches 1-3 again as part 1. Before, the driver's final
    listing took part 0 as a part nobody reported: 281 of a run's 4809 rows twice, its
    ``unknown`` -127."""
    loc = locate("s3://hangs/late")
    series = PartSeries(loc, 3, 0, START)
    series.append(rows(20, worker=3), 20, 1)
    series.append(rows(20, worker=3, first=20), 20, 2)
    (given_up,) = series.close()  # landed late
    for seq in (1, 2, 3):
        series.append(rows(20, worker=3, first=20 * (seq - 1)), 20, seq)
    (again,) = series.close()
    assert unlisted_parts(loc, [again.file]) == []
    assert listing(s3, "late/samples") == [again.file] and given_up.file != again.file
    assert (given_up.first_seq, given_up.last_seq, again.first_seq, again.last_seq) == (1, 2, 1, 3)


def test_of_two_unreported_parts_holding_the_same_batches_the_driver_lists_one(s3):
    """The worker died before it reported part 1: part 1 is its rows (it holds part 0's
    too), listed once; part 0 leaves the store."""
    loc = locate("s3://hangs/died")
    series = PartSeries(loc, 4, 0, START)
    series.append(rows(20, worker=4), 20, 1)
    (given_up,) = series.close()
    series.append(rows(20, worker=4), 20, 1)
    series.append(rows(20, worker=4, first=20), 20, 2)
    (again,) = series.close()
    found = unlisted_parts(loc, [])
    assert [(p.file, p.rows, p.last_seq) for p in found] == [(again.file, 40, 2)]
    assert listing(s3, "died/samples") == [again.file] and given_up.file != again.file


def test_the_end_of_a_run_looks_at_its_store_once_within_a_bound_of_its_own(s3):
    """A silent store costs the end of a run one look of at most ANSWER_WAIT_S (the SDK's
    own limits: ~10 s a look, ~30 s an upload, each of the end's dozen calls: a 10 s run
    whose store froze took 146 s to end, exit 2 on a line about reading samples/)."""
    loc = locate("s3://hangs/look")
    assert silence(loc, 0.5) is None
    s3.faults.refuse_writes = True  # a refusal is an answer
    try:
        assert silence(loc, 0.5) is None
    finally:
        s3.faults.refuse_writes = False
    s3.faults.freeze()
    try:
        began = time.monotonic()
        assert silence(loc, 0.5) == "no answer in 0.5 s"
        assert time.monotonic() - began < 0.8
    finally:
        s3.faults.thaw()
    port = free_port()
    gone = RunLocation(pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http",
                                         region="us-east-1", access_key="testing", secret_key="testing"),
                       "hangs/look", "s3://hangs/look")
    # nothing listens (the store's process is gone): refused connections, the SDK's 3 attempts (~1-3 s)
    why = silence(gone, 5.0)
    assert why.startswith(f"Failed to connect to 127.0.0.1:{port} after ") and why.endswith("Could not connect to server")
    assert silence(locate("runs/local"), 0.0) is None


def test_a_run_whose_store_is_silent_at_its_end_fails_in_one_line_with_its_account(s3):
    from loadray.driver import _after_disk_error, _run_dir

    manifest = Manifest(START, parts=(PartEntry("worker-000-0000.parquet", 0, 300),))
    doc = {"planned": 1000, "rows": 300, "lost": 0, "unknown": 700}
    error = silent_store(locate("s3://hangs/end"), "no answer in 5 s", manifest, doc)
    assert isinstance(error, DiskError) and error.exit_code == 1 and _after_disk_error(error, "s3://hangs/end") is error
    assert str(error) == (
        "s3://hangs/end: the store did not answer at the end of the run (no answer in 5 s): it holds the 300 rows of "
        "the 1 parts completed before; the 700 rows in no part that reached it stayed with the workers and are gone "
        "(planned 1000 = rows 300 + lost 0 + unknown 700; the run's record is not stored); `loadray report "
        "s3://hangs/end` builds the report from the parts there once it answers again")
    began = time.monotonic()
    with pytest.raises(StoreSilent) as info, _run_dir("s3://hangs/end"):
        write_scenario_at(locate("s3://hangs/end"), {"name": "end"})
        s3.faults.freeze()  # before, the run's directory asked the silent store whether samples/ was there
        raise error
    s3.faults.thaw()
    assert info.value is error and time.monotonic() - began < 1
    assert listing(s3, "end") == ["scenario.yaml"]  # kept: the store could not say what else it holds


def test_a_worker_waits_for_a_silent_store_a_bounded_time_after_its_load(s3):
    """Before, a worker's end waited for its last part as long as the SDK tried (a check
    for the run's end, an upload: ~40 s an attempt), and the run's end with it: a 10 s run
    whose store froze 3 s in ended 122 s into its load even with the driver's own look
    bounded. Now the rows not in a complete part stay unwritten (counted unknown)."""
    outbox = Outbox()
    outbox.put(rows(50, worker=5).combine_chunks().to_batches()[0], 50)
    archiver = Archiver(lambda: PartSeries(impatient(s3, "finish", 5.0), 5, 0, START), outbox)

    async def main() -> tuple[bool, float]:
        archiver.start()
        began = time.monotonic()
        done = await archiver.finish(within_s=0.5)
        took = time.monotonic() - began
        s3.faults.thaw()  # the writing thread's held request is answered: it ends
        return done, took

    s3.faults.freeze()
    try:
        done, took = asyncio.run(main())
    finally:
        s3.faults.thaw()
    assert not done and 0.5 <= took < 0.9
    assert archiver.error == "the store did not take the last part in 0.5 s" and outbox.rows == 50


def test_the_driver_saves_the_manifest_beside_its_loop_not_in_its_way(s3):
    """Before, a tick of a store that stopped answering held the driver's loop (its live
    view, its signals, the run's end) for the whole upload: ~30 s with the SDK's retries,
    again at each tick while the store stayed silent."""
    loc = impatient(s3, "tick")
    ledger, series = PartLedger(loc, START), PartSeries(loc, 6, 0, START)
    series.append(rows(30, worker=6), 30, 1)
    (part,) = series.close()
    ledger.add_part(part)
    s3.faults.freeze()
    try:
        began = time.monotonic()
        ledger.tick()
        ledger.tick()  # the first save still waits: not a second one
        took = time.monotonic() - began
    finally:
        s3.faults.thaw()
    assert took < 0.2
    ledger.close(START + 10**9, {"rows": 30})
    manifest = Manifest.from_json(loc.read_bytes("samples", "_manifest.json").decode())
    assert manifest.complete and [p.file for p in manifest.parts] == [part.file] and manifest.record == {"rows": 30}


def test_a_run_its_store_left_without_a_complete_manifest_reads_each_batch_once(s3):
    """The store did not answer at the run's end, then served what it held: the manifest
    says no part, the late upload (part 0, batch 1) and the part that wrote its rows again
    (part 1, batches 1-2) are both there. `loadray report` and open_run read every complete
    part then, each batch once: 40 rows (before, 60)."""
    loc = locate("s3://hangs/after")
    write_scenario_at(loc, {"name": "after"})
    PartLedger(loc, START)  # the manifest as the run began
    series = PartSeries(loc, 7, 0, START)
    series.append(rows(20, worker=7), 20, 1)
    series.close()
    series.append(rows(20, worker=7), 20, 1)
    series.append(rows(20, worker=7, first=20), 20, 2)
    series.close()
    run = open_run("s3://hangs/after")
    assert run.rows == 40 and run.table.num_rows == 40
