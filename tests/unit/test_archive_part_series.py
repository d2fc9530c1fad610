"""A worker's own series of parts: complete parts only, never a batch split between
two, the footer saying whose rows and up to which batch; the same on a local
directory, on a file system that moves a temporary object into place, and on a real
S3 server (moto's, on 127.0.0.1), where nothing is visible before the upload completes."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from helpers import FakeSeconds

from loadray.archive.fs import RunLocation, locate
from loadray.archive.ledger import PartLedger, unlisted_parts
from loadray.archive.manifest import Manifest
from loadray.archive.part_series import PartSeries, WrittenPart, series_part_name
from loadray.schema import SCHEMA

START = 1_700_000_000_000_000_000


def rows(n: int, worker: int = 3, first: int = 0) -> pa.Table:
    columns = {"intended_ns": pa.array(range(START + first, START + first + n), pa.int64()),
               "status": pa.array([200] * n, pa.int16()), "worker": pa.array([worker] * n, pa.int16()),
               "phase": pa.array([0] * n, pa.int16()), "bytes_in": pa.array([10] * n, pa.int32()),
               "attempt": pa.array([1] * n, pa.int8())}
    return pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in SCHEMA}, schema=SCHEMA)


def names(directory) -> list[str]:
    return sorted(p.name for p in (directory / "samples").iterdir())


def test_parts_roll_after_whole_batches_and_say_whose_rows_and_up_to_which_batch(tmp_path):
    series = PartSeries(locate(tmp_path), 3, 0, START, rows_per_file=250, row_group_rows=100)
    done = []
    for seq in range(1, 8):  # 7 batches of 100 rows, 90 arrivals each
        done += series.append(rows(100, first=seq * 100), 90, seq)
    assert [(p.file, p.rows, p.arrivals, p.last_seq) for p in done] == [
        ("worker-003-0000.parquet", 300, 270, 3), ("worker-003-0001.parquet", 300, 270, 6)]
    assert series.open_rows == 100 and names(tmp_path) == [".worker-003-0002.parquet.tmp", *[p.file for p in done]]
    (last,) = series.close()
    assert (last.rows, last.last_seq) == (100, 7) and series.close() == []
    kv = pq.read_metadata(tmp_path / "samples" / last.file).metadata
    assert {k: kv[k.encode()].decode() for k in ("loadray.worker", "loadray.incarnation", "loadray.arrivals",
                                                 "loadray.seq", "loadray.run_start_ns")} == {
        "loadray.worker": "3", "loadray.incarnation": "0", "loadray.arrivals": "90", "loadray.seq": "7",
        "loadray.run_start_ns": str(START)}
    assert ds.dataset(tmp_path / "samples", format="parquet").count_rows() == 700


def test_only_the_text_columns_get_dictionary_pages(tmp_path):
    series = PartSeries(locate(tmp_path), 0, 0, START)
    table = rows(1000).set_column(SCHEMA.get_field_index("step"), "step",
                                  pa.array(["a", "b"] * 500).dictionary_encode().cast(SCHEMA.field("step").type))
    series.append(table, 1000, 1)
    (part,) = series.close()
    group = pq.read_metadata(tmp_path / "samples" / part.file).row_group(0)
    with_dictionary = {group.column(i).path_in_schema for i in range(group.num_columns)
                       if group.column(i).dictionary_page_offset is not None}
    assert with_dictionary == {f.name for f in SCHEMA if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)}
    assert "step" in with_dictionary and "intended_ns" not in with_dictionary
    assert pq.read_table(tmp_path / "samples" / part.file).column("step").to_pylist()[:3] == ["a", "b", "a"]


def test_a_quiet_part_completes_after_its_time_and_a_restart_names_its_own(tmp_path):
    clock = FakeSeconds()
    series = PartSeries(locate(tmp_path), 1, 2, START, roll_s=5.0, clock=clock)
    assert series.append(rows(10), 10, 1) == [] and series.roll_due() == []
    clock.now += 4.9
    assert series.roll_due() == []
    clock.now += 0.1
    (part,) = series.roll_due()
    assert part == WrittenPart("worker-001-r2-0000.parquet", 1, 2, 10, 10, 1, first_seq=1)
    assert series_part_name(1, 0, 7) == "worker-001-0007.parquet"


def test_an_aborted_part_leaves_nothing_and_the_next_takes_a_new_number(tmp_path):
    series = PartSeries(locate(tmp_path), 0, 0, START)
    series.append(rows(50), 50, 1)
    series.abort()
    assert names(tmp_path) == [] and series.open_rows == 0
    series.append(rows(50), 50, 1)  # the same batch again, still in the outbox
    (part,) = series.close()
    assert part.file == "worker-000-0001.parquet" and names(tmp_path) == ["worker-000-0001.parquet"]


def test_a_file_system_without_rename_in_place_gets_a_moved_complete_part(tmp_path):
    (tmp_path / "store").mkdir()
    fs = pafs.SubTreeFileSystem(str(tmp_path / "store"), pafs.LocalFileSystem())
    loc = RunLocation(fs, "run", "subtree://run")
    series = PartSeries(loc, 0, 0, START)
    series.append(rows(40), 40, 1)
    assert not (tmp_path / "store" / "run" / "samples").exists() or names(tmp_path / "store" / "run") == []
    (part,) = series.close()
    assert names(tmp_path / "store" / "run") == [part.file]
    assert pq.read_metadata(tmp_path / "store" / "run" / "samples" / part.file).num_rows == 40


def test_on_s3_a_part_exists_only_once_complete_and_the_ledger_finds_unreported_ones():
    pytest.importorskip("moto.server")
    from s3_support import s3_server

    with s3_server("parts") as s3:
        loc = locate("s3://parts/runs/one")
        series = PartSeries(loc, 2, 0, START, row_group_rows=10)
        series.append(rows(30, worker=2), 30, 4)  # a row group is encoded, nothing uploaded
        listing = pafs.FileSelector("parts/runs/one", allow_not_found=True, recursive=True)
        assert [i.path for i in s3.fs.get_file_info(listing)] == []
        series.abort()  # a worker that stops mid-part: nothing to see, nothing to clean
        assert [i.path for i in s3.fs.get_file_info(listing)] == []
        ledger = PartLedger(loc, START)
        series.append(rows(30, worker=2), 30, 4)
        (reported,) = series.close()
        series.append(rows(20, worker=2, first=30), 20, 5)
        (unreported,) = series.close()  # its worker died before telling the driver
        ledger.add_part(reported)
        assert unlisted_parts(loc, [p.file for p in ledger.manifest.parts]) == [unreported]
        ledger.add_part(unreported)
        ledger.close(START + 10**9, {"rows": 50})
        with s3.fs.open_input_stream("parts/runs/one/samples/_manifest.json") as f:
            manifest = Manifest.from_json(f.read().decode())
        assert manifest.complete and manifest.rows == 50 and manifest.record == {"rows": 50}
        assert [p.file for p in manifest.parts] == ["worker-002-0001.parquet", "worker-002-0002.parquet"]
