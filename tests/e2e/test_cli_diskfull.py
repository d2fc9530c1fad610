"""A full disk in the middle of `loadray run` (a small tmpfs, as root): exit 1 with one
line, the complete parts readable, `loadray report` rebuilds and says why it stopped."""

from __future__ import annotations

import pytest
import json
import os
import re

import pyarrow.dataset as ds

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


def test_disk_full_mid_run_keeps_the_written_rows_and_the_report_rebuilds(cli, tmpfs):
    disk = tmpfs("8m")
    filler = leave_room(disk, ROOM)
    out = disk / "run"
    done = cli("run", QUICKSTART, "--out", out, "--quiet", *LONG)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = loadray_lines(done.stderr)
    match = re.fullmatch(
        rf"loadray run: error: disk full at {re.escape(str(out / 'samples'))} after (\d+) rows; the archive "
        r"holds the (\d+) rows written before; summary.json and report.html were built from them", line)
    assert match, line
    sent, kept = map(int, match.groups())
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
