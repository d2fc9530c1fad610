"""A full disk in the middle of `loadray run` (a small tmpfs, as root): exit 1 with one
line, the complete parts readable, `loadray report` rebuilds and says why it stopped;
the same when the chunks/ side table of a streamed LLM run fills it."""

from __future__ import annotations

import json
import os
import re

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from cli_support import QUICKSTART
from marked import loadray_lines

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

#: The sink's space reserve (1 MiB) and room for a few seconds of rows beside it.
ROOM = (1 << 20) + (256 << 10)
# 1000 req/s for up to 32 s on 2 workers: ~26 B a row, parts every 5 s (~65 KB each)
LONG = ["--set", "load.phases.0.duration=30s", "--set", "load.phases.0.rate=1000",
        "--set", "load.phases.1.duration=1s", "--set", "load.phases.2.duration=1s",
        "--set", "cluster.worker_cpus=0.5"]


def leave_room(disk, nbytes):
    stat = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - nbytes))
    return filler


def top_up(filler):
    with open(filler, "ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def run_until_full(cli, disk, scenario, room: int, load: list[str], where: str, rows: str):
    """`loadray run` with ``room`` bytes left on ``disk``: exit 1 and one line, the disk
    full at ``where`` (samples, chunks) after N ``rows``. (filler, run dir, the cut as
    the line says it, N, the rows kept)."""
    filler = leave_room(disk, room)
    out = disk / "run"
    done = cli("run", scenario, "--out", out, "--quiet", *load)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = loadray_lines(done.stderr)
    match = re.fullmatch(
        rf"loadray run: error: (disk full at {re.escape(str(out / where))} after (\d+) {rows}; the archive "
        rf"holds the (\d+) {rows} written before); summary.json and report.html were built from them", line)
    assert match, line
    return filler, out, match.group(1), int(match.group(2)), int(match.group(3))


def test_disk_full_mid_run_keeps_the_written_rows_and_the_report_rebuilds(cli, tmpfs):
    disk = tmpfs("8m")
    filler, out, _, sent, kept = run_until_full(cli, disk, QUICKSTART, ROOM, LONG, "samples", "rows")
    assert 0 < kept < sent < 32_000  # stopped early, lost at most the open parts

    manifest = json.loads((out / "samples" / "_manifest.json").read_text())
    assert manifest["rows"] == kept and not manifest["complete"]
    assert manifest["cut"]["rows_received"] == sent and manifest["cut"]["rows_kept"] == kept
    assert ds.dataset(out / "samples", format="parquet").count_rows() == kept
    assert [p.name for p in (out / "samples").iterdir() if p.name.startswith(".")] == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["intended"] == kept
    assert summary["duration_s"] < 30  # the run ended where the disk stopped it, not as planned
    assert summary["aborted"].startswith(f"disk full at {out / 'samples'} after {sent} rows")

    (out / "summary.json").unlink()
    top_up(filler)  # the disk entirely full: the report cannot be written, the rows stay
    no_room = cli("report", out)
    assert no_room.returncode == 1
    assert loadray_lines(no_room.stderr) == [f"loadray report: error: disk full at {out}: could not write summary.json"]
    assert ds.dataset(out / "samples", format="parquet").count_rows() == kept

    filler.unlink()
    report = cli("report", out)
    assert report.returncode == 0, report.stderr
    said = " ".join(report.stdout.split())  # the terminal summary wraps long lines
    assert f"the run was stopped early: disk full at {out / 'samples'} after {sent} rows" in said
    assert json.loads((out / "summary.json").read_text()) == summary
    assert "disk full at" in (out / "report.html").read_text()


LLM_STREAM = QUICKSTART.parent / "llm-stream.yaml"
#: llm-stream.yaml at 60 requests/s: chunks/ grows ~16 KB/s, one write a second per
#: worker; samples/ is written only around its parts' rolls (5-6 s, 10-12 s: a part's
#: rows stay in memory until it completes). Measured on a tmpfs: 1188 KB used at 6.2 s,
#: 1264 KB at 10.2 s, so this room fills in a write of chunks at ~8 s, after the first
#: parts of both completed, well clear of a samples write.
LLM_ROOM = (1 << 20) + (200 << 10)
LLM_LOAD = ["--set", "load.phases.0.duration=20s", "--set", "load.phases.0.rate=60", "--set", "cluster.worker_cpus=0.5"]


def test_disk_full_under_chunks_stops_the_llm_run_keeps_every_sample_and_the_finished_chunks(cli, tmpfs):
    _, out, cut, received, kept = run_until_full(cli, tmpfs("8m"), LLM_STREAM, LLM_ROOM, LLM_LOAD, "chunks",
                                                 "chunk rows")
    assert 0 < kept < received  # the parts finished before the disk filled, not the open ones

    chunks = ds.dataset(out / "chunks", format="parquet").to_table()  # every part readable, none half written
    assert chunks.num_rows == kept
    assert [p.name for p in (out / "chunks").iterdir() if p.name.startswith(".")] == []
    manifest = json.loads((out / "samples" / "_manifest.json").read_text())
    assert manifest["complete"] and manifest["cut"]["message"] == cut  # every sample received is kept
    assert manifest["rows"] == manifest["cut"]["rows_received"] == manifest["cut"]["rows_kept"] > 0
    assert ds.dataset(out / "samples", format="parquet").count_rows() == manifest["rows"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["intended"] == manifest["rows"] and summary["aborted"] == cut
    assert summary["duration_s"] < 15  # the run ended where the disk stopped it, not as planned
    requests = pc.sum(pc.equal(chunks.column("index"), 0)).as_py()
    assert summary["steps"]["chat"]["llm"]["requests"] == requests  # from the finished parts only
    assert 0 < requests < summary["intended"]

    (out / "summary.json").unlink()
    report = cli("report", out)
    assert report.returncode == 0, report.stderr
    said = " ".join(report.stdout.split())
    assert f"the run was stopped early: {cut}" in said
    assert json.loads((out / "summary.json").read_text()) == summary
