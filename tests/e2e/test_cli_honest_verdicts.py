"""Honest verdicts end to end: Ctrl+C with the built-in target stops the workers before
the target (no error row made by the shutdown), the summary says the run was
interrupted, exit 130; the run directory is printed when the run starts; a target that
is down is a loud failure (pre-flight warning, "none of N succeeded", exit 1) or, with
``--preflight strict``, no run at all."""

from __future__ import annotations

import pytest
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pyarrow.dataset as ds
import yaml

from cli_support import QUICKSTART, REPO
from marked import kill_marked, loadray_lines, new_marker

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

SHUTDOWN_ERRORS = ("connect_refused", "reset", "connect_error", "protocol")


def _start(marker: str, *args: object) -> subprocess.Popen:
    """``loadray run`` in a process group of its own, as a shell starts a foreground job."""
    env = dict(os.environ, LOADRAY_TEST_MARKER=marker)
    env.pop("RAY_ADDRESS", None)
    return subprocess.Popen([sys.executable, "-m", "loadray", "run", *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_ctrl_c_with_the_builtin_target_stops_the_workers_first_and_says_interrupted(tmp_path):
    marker, out = new_marker(), tmp_path / "run"
    proc = _start(marker, QUICKSTART, "--out", out, "--quiet", "--set", "load.phases.0.duration=60s",
                  "--set", "load.phases.0.rate=400", "--set", "cluster.worker_cpus=0.5")
    try:
        first = proc.stdout.readline()  # printed when the run starts, before any load
        assert first == f"run directory: {out}\n", first
        deadline = time.monotonic() + 120
        while not (out / "control.json").exists():  # the load is running
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(4)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl+C does: the whole group
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_marked(marker)
    assert proc.returncode == 130, stderr
    rows = ds.dataset(out / "samples", format="parquet").to_table(columns=["error", "sent_ns"])
    errors = [e for e in rows.column("error").to_pylist() if e is not None]
    assert rows.num_rows >= 1000  # ~4 s at 400/s ran
    assert [e for e in errors if e in SHUTDOWN_ERRORS] == []  # nothing refused or reset by the shutdown
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"].startswith("SIGINT at ") and summary["interrupted"].endswith(" s")
    at_s = float(summary["interrupted"].split()[2])
    assert 3 < at_s < 20 and summary["duration_s"] < at_s + 1.0
    assert summary["passed"] is True and summary["errors"] <= summary["intended"] * 0.01  # 0.1% injected
    assert any(w.startswith(f"the run was interrupted ({summary['interrupted']})") for w in summary["warnings"])
    assert f"loadray run: interrupted ({summary['interrupted']}): the figures and thresholds above cover " \
           "the part that ran" in loadray_lines(stderr)
    assert "interrupted" in stdout  # the terminal summary's warnings
    assert stdout.rstrip().endswith(f"run directory: {out}  (report: {out / 'report.html'})")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _down_scenario(tmp_path, port: int) -> os.PathLike:
    doc = {"name": "down", "target": f"http://127.0.0.1:{port}", "workers": 1, "cluster": {"worker_cpus": 0.5},
           "load": {"phases": [{"duration": "1s", "rate": 50}]}, "requests": [{"path": "/"}]}
    path = tmp_path / "down.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_target_that_is_down_warns_before_the_load_and_fails_the_run(cli, tmp_path):
    port = _closed_port()
    out = tmp_path / "run"
    done = cli("run", _down_scenario(tmp_path, port), "--out", out, "--quiet")
    assert done.returncode == 1, done.stderr
    lines = loadray_lines(done.stderr)
    assert f"loadray run: warning: preflight: http://127.0.0.1:{port}: connection refused (is the target up?); " \
           "the run goes on (--preflight strict refuses to start)" in lines
    summary = json.loads((out / "summary.json").read_text())
    line = "none of the 50 requests succeeded (connect_refused 50): is the target up?"
    assert summary["nothing_succeeded"] == line and summary["passed"] is False
    assert summary["warnings"][0] == line and f"! {line}" in done.stdout  # the terminal summary


def test_preflight_strict_refuses_to_start_and_leaves_no_run_directory(cli, tmp_path):
    port = _closed_port()
    out = tmp_path / "run"
    done = cli("run", _down_scenario(tmp_path, port), "--out", out, "--preflight", "strict")
    assert done.returncode == 1
    assert loadray_lines(done.stderr) == [
        f"loadray run: error: preflight: http://127.0.0.1:{port}: connection refused (is the target up?); "
        "not started (--preflight strict)"]
    assert not out.exists()  # the rerun is not blocked


def test_a_bad_metrics_port_fails_before_anything_and_the_rerun_works(cli, tmp_path):
    out = tmp_path / "run"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = cli("run", QUICKSTART, "--out", out, "--metrics-port", taken.getsockname()[1])
    assert done.returncode == 2 and len(loadray_lines(done.stderr)) == 1 and "--metrics-port" in done.stderr
    assert not out.exists()
    unreachable = cli("run", QUICKSTART, "--out", out, "--address", "127.0.0.1:1")
    assert unreachable.returncode == 1
    assert loadray_lines(unreachable.stderr) == [
        "loadray run: error: --address 127.0.0.1:1: nothing listens there (connection refused); "
        "give the head node's address as `ray start --head` printed it"]
    assert not out.exists()
