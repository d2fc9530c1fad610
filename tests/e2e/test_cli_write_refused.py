"""A run directory that refuses writes mid-run for another reason than a full disk
(samples/ made immutable, the run directory removed): `loadray run` stops at once with
one line naming the directory and the OS reason (exit 1), as for a full disk
(test_cli_diskfull.py); the parts complete before stay readable, none half written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pyarrow.dataset as ds
import pytest
from cli_support import QUICKSTART
from marked import kill_marked, loadray_lines, new_marker, start_run, wait_for
from test_cli_diskfull import LONG

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')


def refused_mid_run(disk, refuse) -> tuple[str, float]:
    """`loadray run` of the quickstart on ``disk`` (workers write their own parts):
    ``refuse(run_dir)`` once its first part is in place. (loadray's one line on stderr
    after exit 1, seconds from the refusal to the exit.)"""
    marker, out = new_marker(), disk / "run"
    proc = start_run(marker, QUICKSTART, "--out", out, "--quiet", *LONG)
    try:
        wait_for(lambda: any((out / "samples").glob("worker-*.parquet")), 60, proc, step_s=0.05)
        refuse(out)
        refused = time.monotonic()
        _, stderr = proc.communicate(timeout=90)
        took = time.monotonic() - refused
    finally:
        subprocess.run(["chattr", "-i", str(out / "samples")], capture_output=True)
        kill_marked(marker)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    (line,) = loadray_lines(stderr)
    return line, took


def test_samples_dir_refusing_writes_mid_run_stops_it_like_a_full_disk(tmpfs):
    """Not a full disk: samples/ made immutable mid-run (root is refused too: EPERM).
    The run stops at once with one line naming the directory and the OS reason (exit 1),
    the parts complete before stay readable, none half written, the report is built."""
    def immutable(out):
        if subprocess.run(["chattr", "+i", str(out / "samples")], capture_output=True).returncode != 0:
            pytest.skip("this file system takes no immutable flag")

    out = tmpfs("64m") / "run"
    line, took = refused_mid_run(out.parent, immutable)
    match = re.fullmatch(
        rf"loadray run: error: operation not permitted at {re.escape(str(out / 'samples'))} after (\d+) rows; the "
        r"archive holds the (\d+) rows written before; summary.json and report.html were built from them", line)
    assert match, line
    sent, kept = int(match.group(1)), int(match.group(2))
    assert 0 < kept < sent < 32_000 and took < 20  # stopped at once, not after the 30 s planned
    assert ds.dataset(out / "samples", format="parquet").count_rows() == kept  # every part readable
    summary = json.loads((out / "summary.json").read_text())
    assert summary["intended"] == kept


def test_run_dir_removed_mid_run_stops_it_in_one_line_and_is_not_made_again(tmp_path):
    """The run directory removed mid-run (ENOENT): one line that says so and that no
    report could be built; nothing makes the directory again."""
    out = tmp_path / "run"
    line, took = refused_mid_run(tmp_path, shutil.rmtree)
    assert re.fullmatch(
        rf"loadray run: error: no such file or directory at {re.escape(str(out / 'samples'))} after \d+ rows; the "
        rf"archive holds the \d+ rows written before; no report: {re.escape(str(out / 'samples'))}: no samples "
        r"directory \(not a loadray run directory\?\)", line), line
    assert took < 20 and not out.exists()
