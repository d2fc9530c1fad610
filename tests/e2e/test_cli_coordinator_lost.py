"""The run's coordinator killed (SIGKILL: the OOM killer's signal) or frozen (SIGSTOP: a
stalled process) mid-run, or every worker lost at once (the raylet killed): `loadray run` exits 1 with one line, the archive is closed
with a record that says so (`abort_kind: coordinator`, ``planned = rows + lost +
unknown`` over the scenario's plan until the workers had certainly stopped), and the
run fails — also when `loadray report` rebuilds it — whatever its thresholds say.
(Before, the manifest claimed a complete run to its planned end with no record, and
`loadray report` said PASSED, exit 0.)"""

from __future__ import annotations

import json
import os
import re
import signal

import pyarrow.dataset as ds
import pytest
from cli_support import QUICKSTART
from marked import kill_marked, loadray_lines, marked, new_marker, start_run, wait_for

from loadray.plan.profile import Profile
from loadray.plan.split import first_k_at
from loadray.scenario import load_scenario

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

LOAD = ["--set", "load.phases.0.duration=6s", "--set", "load.phases.1.duration=6s",
        "--set", "load.phases.2.duration=6s", "--set", "cluster.worker_cpus=0.5"]
LINE = (r"loadray run: error: the coordinator (actor died \(ActorDiedError\)|did not answer within 10 s): the archive "
        r"holds (\d+) rows, (\d+) planned requests may or may not have been sent; summary\.json and report\.html "
        r"were built from them")


def signal_mid_run(out, program: str, signum: int) -> tuple[int, str]:
    """A run 5 s in (both workers' first parts written): ``signum`` to its process that
    runs ``program`` (in its command line's first word); (exit code, stderr)."""
    marker = new_marker()
    proc = start_run(marker, QUICKSTART, "--out", out, "--quiet", *LOAD)
    try:
        wait_for(lambda: len(list(out.glob("samples/worker-*.parquet"))) >= 2, 120, proc)
        (pid,) = [pid for pid, cmd in marked(marker) if program in cmd.split(" ", 1)[0]]
        os.kill(pid, signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_marked(marker)
    return proc.returncode, stderr


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_a_coordinator_lost_mid_run_fails_the_run_with_an_exact_account(cli, tmp_path, signum):
    out = tmp_path / "run"
    code, stderr = signal_mid_run(out, "ray::Coordinator", signum)
    assert code == 1, stderr
    (line,) = loadray_lines(stderr)
    match = re.fullmatch(LINE, line)
    assert match and (match.group(1) == "actor died (ActorDiedError)") == (signum == signal.SIGKILL), line

    record = json.loads((out / "samples" / "_manifest.json").read_text())["record"]
    summary = json.loads((out / "summary.json").read_text())
    rows = ds.dataset(out / "samples", format="parquet").count_rows()
    assert record["abort_kind"] == summary["abort_kind"] == "coordinator" and not summary["passed"]
    assert 1000 < rows == record["rows"] == summary["intended"] == int(match.group(2))
    assert record["planned"] == record["rows"] + record["lost"] + record["unknown"]
    assert record["unknown"] == int(match.group(3))
    plan = Profile(load_scenario(QUICKSTART, [a for a in LOAD if a != "--set"]).phases)
    assert abs(record["planned"] - first_k_at(plan, summary["duration_s"])) <= 1  # the plan until the stop (to 1 µs)
    assert 5 < summary["duration_s"] < 17  # the workers stopped long before the planned 18 s
    assert summary["aborted"].startswith("the coordinator ")
    report = cli("report", out)
    assert report.returncode == 1 and "FAILED" in report.stdout, report.stdout + report.stderr


def test_every_worker_lost_with_the_raylet_aborts_the_run_rather_than_finishing_it(cli, tmp_path):
    # the embedded Ray's one raylet killed: both workers fence themselves; with nobody left
    # to redistribute to, the run ended "finished" 7 s into 18 s, PASSED, exit 0 (before)
    out = tmp_path / "run"
    code, stderr = signal_mid_run(out, "/raylet", signal.SIGKILL)
    assert code == 1, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["passed"]
    if summary["abort_kind"] != "coordinator":  # (the coordinator, on that raylet too, may go first)
        assert summary["abort_kind"] == "worker_loss", summary["aborted"]
        assert summary["aborted"].startswith("every worker was lost (worker 0: ") and "none is left" in summary["aborted"]
    assert summary["planned"] == summary["rows"] + summary["lost"] + summary["unknown"]
    assert summary["rows"] == summary["intended"] == ds.dataset(out / "samples", format="parquet").count_rows()
    assert 5 < summary["duration_s"] < 12
    assert cli("report", out).returncode == 1
