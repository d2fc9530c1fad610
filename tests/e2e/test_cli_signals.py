"""SIGINT/SIGTERM at every stage of `loadray run`: exit 130/143, one line naming the
stage, a run directory `loadray report` rebuilds or calls empty, and no process of the
embedded Ray alive 5 s after loadray exits (found by a marker in their environment)."""

from __future__ import annotations

import json
import re
import signal

import pyarrow.dataset as ds
import pytest
from cli_support import QUICKSTART
from marked import kill_marked, loadray_lines, marked, new_marker, seconds_until_gone, start_run, wait_for

from loadray.analysis.verdict import exit_code

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

SHORT = ["--set", "load.phases.0.duration=1s", "--set", "load.phases.1.duration=1s",
         "--set", "load.phases.2.duration=1s", "--set", "cluster.worker_cpus=0.5"]
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def interrupt(marker, out, signum, ready, timeout_s=120):
    """Start a short run, send ``signum`` once ``ready()``; (exit code, stderr, seconds
    until the last marked process was gone after loadray exited)."""
    proc = start_run(marker, QUICKSTART, "--out", out, "--quiet", *SHORT)
    try:
        wait_for(ready, timeout_s, proc)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
        return proc.returncode, stderr, seconds_until_gone(marker)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_marked(marker)


def ray_starting(marker):
    """Ray is halfway up: its agents run (started by the raylet: before loadray stopped
    them itself, they outlived a signal here by 60-70 s)."""
    return lambda: any("runtime_env/agent" in cmd for _, cmd in marked(marker))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_while_ray_starts(cli, tmp_path, signum):
    marker, out = new_marker(), tmp_path / "run"
    code, stderr, gone_s = interrupt(marker, out, signum, ray_starting(marker))
    name = signal.Signals(signum).name
    assert code == CODES[signum], stderr
    assert loadray_lines(stderr) == [
        f"loadray run: interrupted by {name} while starting Ray: no request was sent; {out} holds only scenario.yaml"
    ]
    assert "Traceback" not in stderr
    assert gone_s < 5, f"Ray processes outlived loadray by {gone_s:.1f} s"
    assert sorted(p.name for p in out.iterdir()) == ["scenario.yaml"]
    report = cli("report", out)
    assert report.returncode == 2
    assert loadray_lines(report.stderr) == [
        f"loadray report: error: {out}: the run was interrupted before any request was sent "
        "(only scenario.yaml, no samples/): nothing to report"
    ]


def test_sigterm_while_the_target_starts(tmp_path):
    marker, out = new_marker(), tmp_path / "run"
    target_up = lambda: any("loadray.target" in cmd for _, cmd in marked(marker))  # noqa: E731
    code, stderr, gone_s = interrupt(marker, out, signal.SIGTERM, target_up)
    assert code == 143, stderr
    # the target starts in well under a second: the signal lands then, or as Ray starts
    (line,) = loadray_lines(stderr)
    assert re.fullmatch(rf"loadray run: interrupted by SIGTERM while starting (the target|Ray): no request was "
                        rf"sent; {re.escape(str(out))} holds only scenario\.yaml", line), line
    assert gone_s < 5
    assert sorted(p.name for p in out.iterdir()) == ["scenario.yaml"]


def test_sigterm_while_the_report_is_built_keeps_a_complete_archive(cli, tmp_path):
    # the report takes ~1 s after summary.json; a starved CI lane once polled too late and
    # the run had finished (exit 0) before the signal: such a try does not count
    for attempt in range(3):
        marker, out = new_marker(), tmp_path / f"run{attempt}"
        code, stderr, gone_s = interrupt(marker, out, signal.SIGTERM, (out / "summary.json").exists)
        if not (code == 0 and (out / "report.html").is_file()):
            break
    assert code == 143, stderr
    assert loadray_lines(stderr) == [
        f"loadray run: interrupted by SIGTERM while building the report: the samples are archived; "
        f"`loadray report {out}` rebuilds summary.json and report.html"
    ]
    assert gone_s < 5
    manifest = json.loads((out / "samples" / "_manifest.json").read_text())
    assert manifest["complete"] and manifest["rows"] == 1800  # 1 s at 200 + 1 s 200->1000 + 1 s at 1000
    report = cli("report", out)
    summary = json.loads((out / "summary.json").read_text())
    assert report.returncode == exit_code(summary), report.stderr  # the run's verdict (99: a loaded lane's p99)
    assert summary["intended"] == 1800 == ds.dataset(out / "samples", format="parquet").count_rows()
    assert (out / "report.html").is_file()


def test_a_whole_run_leaves_no_ray_process_behind_and_ignores_a_jobs_url_in_ray_address(tmp_path):
    marker, out = new_marker(), tmp_path / "run"
    jobs_url = "http://127.0.0.1:8265"  # what `ray job submit` reads: not a cluster to join
    proc = start_run(marker, QUICKSTART, "--out", out, "--quiet", *SHORT, env_extra={"RAY_ADDRESS": jobs_url})
    try:
        peak = 0
        while proc.poll() is None:
            peak = max(peak, len(marked(marker)))
            wait_for(lambda: True, 1)
        _, stderr = proc.communicate(timeout=60)
        gone_s = seconds_until_gone(marker)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_marked(marker)
    assert proc.returncode in (0, 99), stderr  # it ran to the end (99: a busy machine missed a threshold)
    assert loadray_lines(stderr) == [
        f"loadray run: RAY_ADDRESS={jobs_url} is a Jobs API URL, not a cluster address: ignored, "
        "starting an embedded Ray (pass --address to join a cluster)"
    ]
    assert peak >= 5  # loadray, the target, gcs, raylet, agents, workers...
    assert gone_s < 5


def test_sigkill_mid_run_leaves_no_ray_process_and_an_archive_report_reads(cli, tmp_path):
    # nothing in loadray runs on SIGKILL (the OOM killer's signal): its reaper, a process of its
    # own waiting on a pipe from it, stops the embedded Ray (its agents outlived such a kill by >25 s)
    marker, out = new_marker(), tmp_path / "run"
    proc = start_run(marker, QUICKSTART, "--out", out, "--quiet", "--set", "load.phases.0.duration=20s",
                     *SHORT[2:])
    try:
        wait_for(lambda: len(list(out.glob("samples/worker-*.parquet"))) >= 2, 120, proc)  # both workers' first parts
        running = len(marked(marker))
        proc.kill()
        proc.wait(10)
        gone_s = seconds_until_gone(marker)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_marked(marker)
    assert running >= 5 and gone_s < 5, f"{running} processes; the last one gone {gone_s:.1f} s after the kill"
    report = cli("report", out)
    assert report.returncode in (0, 99), report.stderr  # the target went with loadray: some rows may be refused
    summary = json.loads((out / "summary.json").read_text())
    assert 0 < summary["intended"] == ds.dataset(out / "samples", format="parquet").count_rows()
    assert "the run's end time was not recorded" in " ".join(summary["warnings"])
