"""The chunks/ side table written by the workers themselves (a storage URI's runs):
each batch into the companion of the open samples part (same name, one row group per
batch), completed before it and dropped with it; a reader counts a companion only when
its samples part is in the run, so a part that failed after its companion was stored,
or completed after the run was closed, never counts its chunks twice."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from test_archive_part_series import START, rows

from loadray.archive.chunk_source import open_chunks
from loadray.archive.fs import locate
from loadray.archive.ledger import PartLedger, drop_stale_temps
from loadray.archive.part_series import PartSeries
from loadray.stream.table import ChunkBuffer


def chunks(worker: int, requests: int, per: int, first_flow: int = 0):
    """One flush: ``requests`` requests of ``per`` chunks each."""
    buffer = ChunkBuffer(worker, ["chat"], START)
    for r in range(requests):
        buffer.add(first_flow + r, 0, 1, 1_000 * r, [(1_000 * r + 10 * i, 16, 1, None) for i in range(per)])
    return buffer.flush()


def chunk_rows(loc) -> int:
    source = open_chunks(loc)
    return 0 if source is None else sum(t.num_rows for t in source.batches(["flow_id"]))


def test_each_chunk_batch_goes_to_the_companion_of_the_open_part_one_row_group_each(tmp_path):
    loc = locate(tmp_path)
    series = PartSeries(loc, 3, 0, START, rows_per_file=250, row_group_rows=100)
    done = []
    for seq in range(1, 7, 2):  # a flush: samples (seq), then its chunks (seq + 1)
        done += series.append(rows(100, first=seq * 100), 100, seq)
        done += series.append(chunks(3, 4, 5, first_flow=seq * 10), 0, seq + 1)
    done += series.close()
    assert [(p.file, p.rows, p.arrivals, p.last_seq, p.chunk_rows) for p in done] == [
        ("worker-003-0000.parquet", 300, 300, 5, 40), ("worker-003-0001.parquet", 0, 0, 6, 20)]
    companion = pq.ParquetFile(tmp_path / "chunks" / "worker-003-0000.parquet")
    assert companion.metadata.num_row_groups == 2 and companion.metadata.num_rows == 40
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == [p.file for p in done]
    assert chunk_rows(loc) == 60  # no manifest yet: every part in samples/ is in the run


def one_part(series: PartSeries, worker: int):
    """A flush of 10 rows and 2 requests of 5 chunks, in a part of its own."""
    series.append(rows(10, worker=worker), 10, 1)
    series.append(chunks(worker, 2, 5), 0, 2)
    (part,) = series.close()
    return part


def failed_then_again(series: PartSeries, tmp_path, worker: int):
    """A part whose samples upload "failed" after its companion's (whose delete failed
    too), and the same rows again in the next part: (the failed part, the next)."""
    failed = one_part(series, worker)
    (tmp_path / "samples" / failed.file).unlink()
    return failed, one_part(series, worker)


def test_a_part_dropped_after_its_companion_was_stored_counts_its_chunks_once(tmp_path):
    loc = locate(tmp_path)
    failed, again = failed_then_again(PartSeries(loc, 0, 0, START), tmp_path, 0)
    assert (tmp_path / "chunks" / failed.file).is_file() and again.file == "worker-000-0001.parquet"
    assert chunk_rows(loc) == 10


def test_an_aborted_part_takes_its_companion_along_and_temps_are_dropped(tmp_path):
    loc = locate(tmp_path)
    series = PartSeries(loc, 1, 0, START)
    series.append(rows(10), 10, 1)
    series.append(chunks(1, 1, 4), 0, 2)
    assert [p.name for p in (tmp_path / "chunks").iterdir()] == [".worker-001-0000.parquet.tmp"]
    series.abort()
    assert list((tmp_path / "chunks").iterdir()) == [] and open_chunks(loc) is None
    series.append(rows(10), 10, 1)
    series.append(chunks(1, 1, 4), 0, 2)  # a worker stopped with this part open
    assert drop_stale_temps(loc) == ["samples/.worker-001-0001.parquet.tmp", "chunks/.worker-001-0001.parquet.tmp"]


def test_once_the_manifest_is_complete_only_its_parts_companions_count(tmp_path):
    loc = locate(tmp_path)
    ledger = PartLedger(loc, START)
    series = PartSeries(loc, 2, 0, START)
    series.append(rows(10, worker=2), 10, 1)
    series.append(chunks(2, 2, 5), 0, 2)
    (listed,) = series.close()
    ledger.add_part(listed)
    ledger.close(START + 10**9)
    series.append(rows(10, worker=2), 10, 3)
    series.append(chunks(2, 1, 5), 0, 4)
    (late,) = series.close()  # completed after the run was closed (see loadray.archive.fence)
    manifest = json.loads((tmp_path / "samples" / "_manifest.json").read_text())
    assert [p["file"] for p in manifest["parts"]] == [listed.file] and late.chunk_rows == 5
    assert chunk_rows(loc) == 10


def test_the_driver_closing_the_run_deletes_the_companions_of_no_listed_part(tmp_path):
    loc = locate(tmp_path)
    ledger = PartLedger(loc, START)
    _, again = failed_then_again(PartSeries(loc, 4, 0, START), tmp_path, 4)
    ledger.add_part(again)
    ledger.close(START + 10**9)
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == [again.file] and chunk_rows(loc) == 10
