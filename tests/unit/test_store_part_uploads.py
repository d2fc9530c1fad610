"""Parts on a real S3 server (moto's, on 127.0.0.1) leave nothing behind when the store
refuses them: each part is one PutObject (pyarrow opens S3 with ``allow_delayed_open``
and a part completes before 10 MiB), never a multipart upload that a failure, a full
store or a signal mid-upload would leave incomplete (invisible, but billed). The
driver's manifest waits for a store that refuses it mid-run; at the end the refusal is
the run's failure (exit 1), at the start the ``--out`` given (exit 2)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pytest
from test_archive_part_series import START, rows
from test_part_series_chunks import chunks

from loadray.api import open_run
from loadray.archive.fs import locate
from loadray.archive.ledger import PartLedger
from loadray.archive.manifest import Manifest
from loadray.archive.part_series import PartSeries
from loadray.archive.run_place import write_scenario_at
from loadray.archive.store_part import STORE_PART_BYTES
from loadray.errors import ArchiveError, DiskError
from loadray.schema import SCHEMA

pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3():
    from s3_support import s3_server

    with s3_server("uploads") as server:
        yield server


def listing(s3, prefix: str) -> list[str]:
    found = s3.fs.get_file_info(pafs.FileSelector(f"uploads/{prefix}", allow_not_found=True, recursive=True))
    return sorted(i.path for i in found if i.type == pafs.FileType.File)


def test_a_part_the_store_refuses_leaves_no_object_and_no_incomplete_upload(s3):
    series = PartSeries(locate("s3://uploads/refused"), 4, 0, START, row_group_rows=10)
    series.append(rows(30, worker=4), 30, 1)
    series.append(chunks(4, 2, 3), 0, 2)
    s3.faults.refuse_writes = True
    try:
        with pytest.raises(OSError, match="ACCESS_DENIED"):
            series.close()
        series.abort()  # what the worker's archiver does: the rows stay in its outbox
    finally:
        s3.faults.refuse_writes = False
    assert s3.faults.refused >= 1
    assert s3.incomplete_uploads("refused") == [] and listing(s3, "refused") == []
    (part,) = (series.append(rows(30, worker=4), 30, 1) + series.append(chunks(4, 2, 3), 0, 2) + series.close())
    assert (part.file, part.rows, part.chunk_rows) == ("worker-004-0001.parquet", 30, 6)
    assert listing(s3, "refused") == ["uploads/refused/chunks/worker-004-0001.parquet",
                                      "uploads/refused/samples/worker-004-0001.parquet"]


def noisy(n: int, seed: int) -> pa.Table:
    """Rows that hardly compress (random send times): ~8 B a row."""
    table = rows(n, worker=5)
    noise = np.random.default_rng(seed).integers(0, 2**62, n)
    return table.set_column(SCHEMA.get_field_index("sent_ns"), "sent_ns", pa.array(noise, pa.int64()))


def test_a_large_part_completes_before_pyarrow_would_start_a_multipart_upload(s3):
    started = s3.faults.uploads_started
    series = PartSeries(locate("s3://uploads/large"), 5, 0, START)
    done, seq = [], 0
    while not done:
        seq += 1
        done = series.append(noisy(131_072, seq), 131_072, seq)
    (part,) = done
    size = s3.fs.get_file_info(f"uploads/large/samples/{part.file}").size
    assert STORE_PART_BYTES <= size < 10 * 1024 * 1024 and part.rows == 131_072 * seq
    assert s3.faults.uploads_started == started and s3.incomplete_uploads("large") == []


def test_the_manifest_waits_for_a_store_that_refuses_it_and_its_close_says_what_is_stored(s3):
    loc = locate("s3://uploads/manifest")
    ledger = PartLedger(loc, START)
    series = PartSeries(loc, 6, 0, START)
    series.append(rows(30, worker=6), 30, 1)
    (part,) = series.close()
    ledger.add_part(part)
    s3.faults.refuse_writes = True
    try:
        ledger.tick()  # refused: the run goes on, the manifest is saved at a later tick
        ledger.wait_saved()
        s3.faults.refuse_writes = False
        assert Manifest.from_json(loc.read_bytes("samples", "_manifest.json").decode()).parts == ()
        ledger.tick()
        ledger.wait_saved()
        assert [p.file for p in Manifest.from_json(loc.read_bytes("samples", "_manifest.json").decode()).parts] == [
            part.file]
        s3.faults.refuse_writes = True
        with pytest.raises(DiskError) as info:
            ledger.close(START + 10**9, {"rows": 30})
    finally:
        s3.faults.refuse_writes = False
    assert info.value.exit_code == 1 and "\n" not in str(info.value)
    assert str(info.value).startswith("s3://uploads/manifest/samples/_manifest.json: cannot write: ")
    assert str(info.value).endswith("AWS Error ACCESS_DENIED during PutObject operation: Access Denied; the store "
                                    "holds the 30 rows of the 1 parts completed before (the run's record is not stored)")


def test_a_store_that_refuses_the_first_write_is_the_out_given(s3):
    s3.faults.refuse_writes = True
    try:
        with pytest.raises(ArchiveError) as info:
            write_scenario_at(locate("s3://uploads/first"), {"name": "x"})
    finally:
        s3.faults.refuse_writes = False
    assert info.value.exit_code == 2 and not isinstance(info.value, DiskError)
    assert str(info.value).startswith("--out s3://uploads/first/scenario.yaml: cannot write: When uploading object")


def test_a_run_whose_store_refuses_its_end_says_how_to_get_the_report_later(s3):
    from loadray.driver import _after_disk_error

    loc = locate("s3://uploads/end")
    write_scenario_at(loc, {"name": "end"})
    ledger, series = PartLedger(loc, START), PartSeries(loc, 7, 0, START)
    series.append(rows(40, worker=7), 40, 1)
    series.append(chunks(7, 4, 10), 0, 2)
    ledger.add_part(series.close()[0])
    s3.faults.refuse_writes = True
    try:
        with pytest.raises(DiskError) as info:
            ledger.close(START + 10**9)
        error = _after_disk_error(info.value, "s3://uploads/end")
    finally:
        s3.faults.refuse_writes = False
    assert isinstance(error, DiskError) and error.exit_code == 1 and "\n" not in str(error)
    assert str(error).endswith("; the store holds the 40 rows of the 1 parts completed before (the run's record is "
                               "not stored); `loadray report s3://uploads/end` builds the report from them once "
                               "the store takes writes again")
    run = open_run("s3://uploads/end")  # the parts are the truth without a complete manifest
    assert run.rows == 40 and run.summary["steps"]["chat"]["llm"]["requests"] == 4
