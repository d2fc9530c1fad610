"""Exactly once at the end of a run whose workers write their own parts: once the driver
closed the run (its final listing), a worker's part that would complete later is never
completed; one that slips in all the same (the worker checked just before the close) is
not part of the run for any reader. The manifest, open_run, the Arrow dataset DuckDB
reads and polars on ``run.files`` agree on every row; on a local directory and on a
real S3 server (moto's, on 127.0.0.1)."""

from __future__ import annotations

import json

import pyarrow.dataset as ds
import pytest
from test_archive_part_series import START, rows

import loadray
from loadray.archive.fence import CLOSED_FILE, RunClosed, close_run, is_closed
from loadray.archive.fs import locate
from loadray.archive.ledger import PartLedger, unlisted_parts
from loadray.archive.part_series import PartSeries
from loadray.archive.reader import scan_parts


@pytest.fixture(scope="module")
def s3():
    pytest.importorskip("moto.server")
    from s3_support import s3_server

    with s3_server("fence") as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def where(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "run")
    server = request.getfixturevalue("s3")
    return f"s3://{server.bucket}/runs/{tmp_path.name}"


def parquet_names(loc) -> list[str]:
    return sorted(i.base_name for i in loc.files("samples") if i.base_name.endswith((".parquet", ".tmp")))


def started(where):
    """A run with one part listed, and a second one open in its worker."""
    loc = locate(where)
    ledger = PartLedger(loc, START)
    series = PartSeries(loc, 1, 0, START)
    series.append(rows(30, worker=1), 30, 1)
    (first,) = series.close()
    ledger.add_part(first)
    series.append(rows(20, worker=1, first=30), 20, 2)  # its completion comes late (a partition)
    return loc, ledger, series


def finish_like_the_driver(loc, ledger, close: bool = True) -> None:
    """What the driver does at the end: close the run, list what is there, write the manifest."""
    if close:
        assert close_run(loc, START + 2 * 10**9)
    for part in unlisted_parts(loc, [p.file for p in ledger.manifest.parts]):
        ledger.add_part(part)
    ledger.close(START + 10**9, {"rows": ledger.manifest.rows, "unknown": 20})


def test_a_part_that_would_complete_after_the_run_was_closed_is_never_completed(where):
    loc, ledger, series = started(where)
    assert not is_closed(loc)
    finish_like_the_driver(loc, ledger)
    assert is_closed(loc)
    with pytest.raises(RunClosed, match="closed before this part completed"):
        series.close()
    series.abort()  # what the worker's archiver does with a failed write
    with pytest.raises(RunClosed):  # and it writes nothing more (no part is even opened)
        series.append(rows(5, worker=1, first=50), 5, 3)
    assert parquet_names(loc) == ["worker-001-0000.parquet"]
    parts, meta = scan_parts(loc)
    assert [p.name for p in parts] == ["worker-001-0000.parquet"] and meta.unlisted == ()
    assert ledger.manifest.rows == 30 == loadray.open_run(where).rows


def test_a_part_completed_after_the_final_listing_is_not_part_of_the_run_for_any_reader(where):
    pl = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    loc, ledger, series = started(where)
    finish_like_the_driver(loc, ledger, close=False)  # the worker checked just before the close
    (late,) = series.close()
    assert parquet_names(loc) == ["worker-001-0000.parquet", late.file]  # it is in the storage...
    parts, meta = scan_parts(loc)
    assert [p.name for p in parts] == ["worker-001-0000.parquet"]  # ...not in the run
    assert meta.unlisted == (f"samples/{late.file}",)
    manifest = json.loads(loc.read_bytes("samples", "_manifest.json"))
    run = loadray.open_run(where)
    assert manifest["complete"] and manifest["rows"] == 30 == run.rows == run.dataset.count_rows()
    assert len(run.table) == 30 and run.meta.unlisted == meta.unlisted
    samples = run.dataset  # noqa: F841 - DuckDB finds it by name
    assert duckdb.sql("SELECT count(*) FROM samples").fetchall() == [(30,)]
    assert [f.rsplit("/", 1)[-1] for f in run.files] == ["worker-001-0000.parquet"]
    options = None if loc.local is not None else request_options(where)
    assert pl.scan_parquet(run.files, storage_options=options).select(pl.len()).collect().item() == 30
    from loadray.report import summary_for

    summary = summary_for(where)
    assert summary["intended"] == 30
    assert [w for w in summary["warnings"] if "not in the manifest" in w] == [
        f"samples/{late.file}: completed after the run was closed, not in the manifest: not read "
        "(its rows are counted as unknown)"]
    whole = ds.dataset(loc.path("samples"), filesystem=loc.filesystem, format="parquet")
    assert whole.count_rows() == 50  # a glob would take the late part: README says to use run.files


def request_options(where):
    import os

    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_region": "us-east-1",
            "aws_endpoint_url": os.environ["AWS_ENDPOINT_URL_S3"], "aws_allow_http": "true"}


def test_without_a_complete_manifest_every_complete_part_is_read(tmp_path):
    """A driver that died before its manifest was complete: the parts are the truth."""
    loc, ledger, series = started(str(tmp_path / "run"))
    series.close()
    parts, meta = scan_parts(loc)
    assert len(parts) == 2 and meta.unlisted == () and loadray.open_run(tmp_path / "run").rows == 50


def test_the_close_mark_is_best_effort_and_hidden_from_readers(tmp_path):
    loc = locate(str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "samples").write_text("in the way")  # samples/ cannot hold the mark
    assert close_run(loc, START) is False and not is_closed(loc)
    (tmp_path / "run" / "samples").unlink()
    assert close_run(loc, START) and (tmp_path / "run" / "samples" / CLOSED_FILE).is_file()
    assert ds.dataset(tmp_path / "run" / "samples", format="parquet").count_rows() == 0
