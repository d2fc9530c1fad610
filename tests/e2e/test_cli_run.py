"""The CLI end to end: a real short run, report rebuild, interrupts, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pyarrow.dataset as ds
import pytest

from cli_support import QUICKSTART, REPO

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

SHORT = ["--set", "load.phases.0.duration=1s", "--set", "load.phases.1.duration=2s",
         "--set", "load.phases.2.duration=1s", "--set", "cluster.worker_cpus=0.5"]


def test_quickstart_short_run_then_report_rebuilds_the_same_summary(cli, tmp_path):
    out = tmp_path / "run"
    done = cli("run", QUICKSTART, "--out", out, "--quiet", *SHORT)
    assert done.returncode == 0, done.stderr
    assert "PASSED" in done.stdout
    for name in ("scenario.yaml", "summary.json", "report.html"):
        assert (out / name).is_file()
    summary = json.loads((out / "summary.json").read_text())
    # 1 s at 200 + 2 s ramp 200->1000 + 1 s at 1000 = 200 + 1200 + 1000
    assert summary["intended"] == 2400 == summary["sent"] + summary["dropped"]
    assert ds.dataset(out / "samples", format="parquet").count_rows() == 2400
    assert "Traceback" not in done.stderr
    assert "  sent " not in done.stderr  # --quiet: no progress lines

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    plots = {p.name: p.read_bytes() for p in (out / "plots").iterdir()}
    assert len(plots) >= 6
    for name in ("summary.json", "report.html"):
        (copy / name).unlink()
    shutil.rmtree(copy / "plots")
    rebuilt = cli("report", copy)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads((copy / "summary.json").read_text()) == summary
    assert (copy / "report.html").read_text() == (out / "report.html").read_text()
    assert {p.name: p.read_bytes() for p in (copy / "plots").iterdir()} == plots


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_stops_and_archives_what_ran(tmp_path, signum, code):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadray", "run", QUICKSTART, "--out", str(out),
         "--set", "load.phases.0.duration=60s", "--set", "cluster.worker_cpus=0.5"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.time() + 120
        while not (out / "control.json").exists():  # the load is running
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(3)
        sent_at = time.time()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr
    summary = json.loads((out / "summary.json").read_text())
    rows = ds.dataset(out / "samples", format="parquet").count_rows()
    assert summary["intended"] == rows
    assert 400 <= rows <= 1200  # ~3 s at 200 req/s, not the 60 s planned
    assert summary["intended"] == summary["sent"] + summary["dropped"]
    assert summary["sent"] == summary["ok"] + summary["errors"] + summary["cut"]
    assert summary["duration_s"] < 10
    assert (out / "report.html").is_file()
    assert time.time() - sent_at < 30
    last_sent = ds.dataset(out / "samples", format="parquet").to_table(columns=["sent_ns"])["sent_ns"]
    assert max(last_sent.drop_null().to_pylist()) / 1e9 - sent_at < 2.0  # workers stopped within 2 s


def test_out_dir_that_exists_is_refused_and_left_alone(cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    done = cli("run", QUICKSTART, "--out", out)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--out" in done.stderr
    assert (out / "keep.txt").read_text() == "precious" and len(os.listdir(out)) == 1


def test_control_verb_stops_a_running_test(cli, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadray", "run", QUICKSTART, "--out", str(out), "--quiet",
         "--set", "load.phases.0.duration=60s", "--set", "cluster.worker_cpus=0.5"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.time() + 120
        while not (out / "control.json").exists():
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(2)
        answer = cli("control", out, "--stop")
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.strip() == "stopping"
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["duration_s"] < 10 and [e["event"] for e in summary["events"]] == ["stop"]
    assert not (out / "control.json").exists()
    gone = cli("control", out, "--rate", "5")
    assert gone.returncode == 2 and "no run in progress" in gone.stderr
