"""Ray Jobs, for real: ``loadray submit`` and the README's ``ray job submit`` against the
bed's cluster with its job server on the head host (token auth on), from the root
namespace — the submitting machine, which is none of the Ray hosts. The load goes to
the bed's recorder on the bridge."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import yaml
from bed_ray import RAY
from bed_runs import scenario, wait_first_arrival
from s3_support import Faults, free_port, moto
from testbed import REPO, TestBed

from loadray.archive import open_dataset

pytestmark = pytest.mark.cluster

JOB_TIMEOUT_S = 180.0
FAILING = ["rate > 100000"]  # never met: exit 99


def write(tmp: Path, doc: dict, users: bool = True) -> Path:
    """The scenario in ``tmp/scn/`` and a feeder it names in ``tmp/data/`` (a path that
    leaves the scenario's folder: the upload must carry it anyway)."""
    (tmp / "scn").mkdir()
    if users:
        (tmp / "data").mkdir()
        (tmp / "data" / "users.csv").write_text("id\n" + "".join(f"u{i}\n" for i in range(50)))
        doc = {**doc, "feeders": [{"name": "users", "file": "../data/users.csv", "mode": "sequential"}],
               "requests": [{"name": "user", "method": "GET", "path": "/users/{{ users.id }}"}]}
    path = tmp / "scn" / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def submit_env(bed: TestBed) -> dict[str, str]:
    """The bed's environment (the token file in RAY_AUTH_TOKEN_PATH) without
    RAY_AUTH_MODE: ``loadray submit`` must switch token auth on by itself."""
    env = dict(bed.env)
    env.pop("RAY_AUTH_MODE")
    return env


def start_submit(bed: TestBed, path: Path, out: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    argv = [sys.executable, "-m", "loadray", "submit", str(path), "--address", bed.dashboard_url,
            "--out", str(out), *extra]
    with open(out.parent / "submit.out", "w") as o, open(out.parent / "submit.err", "w") as e:
        return subprocess.Popen(argv, env=env or submit_env(bed), cwd=out.parent, stdout=o, stderr=e,
                                stdin=subprocess.DEVNULL)


def run_submit(bed: TestBed, path: Path, out: Path, *extra: str, env: dict | None = None) -> tuple[int, str, str]:
    proc = start_submit(bed, path, out, *extra, env=env)
    try:
        code = proc.wait(JOB_TIMEOUT_S)
    finally:
        _end(proc)
    return code, (out.parent / "submit.out").read_text(), (out.parent / "submit.err").read_text()


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)


def jobs(bed: TestBed) -> dict[str, dict]:
    """Every job of the cluster: {submission id: {status, exit_code, message}}."""
    code = ("import json; from ray.job_submission import JobSubmissionClient as C\n"
            "print(json.dumps({j.submission_id: {'status': str(getattr(j.status, 'value', j.status)), "
            "'exit_code': j.driver_exit_code, 'message': j.message} for j in C(%r).list_jobs()}))"
            % bed.dashboard_url)
    done = subprocess.run([sys.executable, "-c", code], env=bed.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def cluster_run_dirs(bed: TestBed) -> list[Path]:
    """Run directories the entrypoint left in jobs' working directories on the head."""
    found = bed.settings.temp_dir(bed.head).glob("session_*/runtime_resources/working_dir_files/*/runs/*")
    return sorted({p.resolve() for p in found})  # session_latest is a link to the session


def check_local_run(out: Path, planned: int, passed: bool) -> dict:
    """The run directory here: summary, report, resolved scenario, every row readable."""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is passed, summary
    assert [t["passed"] for t in summary["thresholds"]] == [passed] * len(summary["thresholds"]), summary
    dataset, _ = open_dataset(out)
    assert summary["intended"] == planned == dataset.count_rows(), summary
    assert (out / "report.html").stat().st_size > 10_000 and (out / "scenario.yaml").is_file()
    return summary


def test_failing_thresholds_exit_99_and_the_run_directory_comes_here(jobs_bed, tmp_path):
    bed = jobs_bed
    path = write(tmp_path, scenario(bed.target_url, rate=50, duration_s=3, workers=2, thresholds=FAILING))
    before = set(jobs(bed))
    code, out, err = run_submit(bed, path, tmp_path / "run")
    seen = f"exit {code}\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}"
    assert code == 99, seen
    check_local_run(tmp_path / "run", planned=150, passed=False)
    arrivals = {src: s.total for src, s in bed.recorder.stats().items()}
    assert sum(arrivals.values()) == 150 and len(arrivals) == 2, arrivals  # both Ray hosts sent
    new = {k: v for k, v in jobs(bed).items() if k not in before}
    assert len(new) == 1, new
    (job_id, job), = new.items()
    assert job_id.startswith("loadray-") and (job["status"], job["exit_code"]) == ("FAILED", 99), job
    assert f"job {job_id} submitted" in err and "receiving the run directory" in err, seen
    assert out.count("Running entrypoint") == 1 and "rate > 100000" in out, seen  # Ray's lines, then loadray's
    assert out.rstrip().splitlines()[-1].startswith(f"run directory: {tmp_path / 'run'}"), seen
    assert not cluster_run_dirs(bed), cluster_run_dirs(bed)  # sent whole: not left on the head


def test_passing_run_exits_0_quietly_with_overrides(jobs_bed, tmp_path):
    bed = jobs_bed
    doc = scenario(bed.target_url, rate=50, duration_s=3, workers=2, thresholds=["error_rate < 1%"])
    path = write(tmp_path, doc)
    code, out, err = run_submit(bed, path, tmp_path / "run", "--quiet", "--set", "load.phases.0.rate=40")
    assert code == 0, f"{out[-3000:]}\n{err[-3000:]}"
    check_local_run(tmp_path / "run", planned=120, passed=True)
    assert bed.recorder.total() == 120
    assert "Running entrypoint" not in out, out  # --quiet: loadray's summary only


def test_a_bad_scenario_exits_2_with_one_line_and_submits_nothing(jobs_bed, tmp_path):
    bed = jobs_bed
    path = write(tmp_path, scenario(bed.target_url, rate=50, duration_s=3, workers=2, thresholds=["p99 < fast"]))
    before = jobs(bed)
    code, out, err = run_submit(bed, path, tmp_path / "run")
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("loadray submit: error: thresholds[0]"), err
    assert jobs(bed) == before and not (tmp_path / "run").exists()


def test_without_the_token_one_line_says_what_to_set_and_nothing_is_submitted(jobs_bed, tmp_path):
    bed = jobs_bed
    env = {k: v for k, v in bed.env.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    path = write(tmp_path, scenario(bed.target_url, rate=50, duration_s=3, workers=2))
    before = jobs(bed)
    code, out, err = run_submit(bed, path, tmp_path / "run", env=env)
    assert code == 1, err
    assert err.count("\n") == 1 and "Authentication required" in err and "RAY_AUTH_TOKEN_PATH" in err, err
    assert err.startswith(f"loadray submit: error: --address {bed.dashboard_url}: "), err
    assert jobs(bed) == before and not (tmp_path / "run").exists()


def test_over_the_fetch_limit_the_run_directory_stays_and_says_where(jobs_bed, tmp_path):
    bed = jobs_bed
    path = write(tmp_path, scenario(bed.target_url, rate=20, duration_s=2, workers=2, thresholds=FAILING), users=False)
    code, out, err = run_submit(bed, path, tmp_path / "run", "--fetch-limit", "1KiB")
    assert code == 99, err  # loadray's code all the same
    assert not (tmp_path / "run").exists(), "nothing fitted: no local run directory"
    line = next(x for x in err.splitlines() if "stayed on the cluster" in x)
    assert line.startswith("loadray submit: the run directory (") and "over --fetch-limit 1KiB" in line, line
    where = line.split(f" at {bed.head.ip}:", 1)[1].split(" ")[0]
    assert [Path(where).resolve()] == cluster_run_dirs(bed), (line, cluster_run_dirs(bed))
    assert json.loads((Path(where) / "summary.json").read_text())["intended"] == 40


def test_ctrl_c_stops_the_job_and_exits_130(jobs_bed, tmp_path):
    bed = jobs_bed
    path = write(tmp_path, scenario(bed.target_url, rate=20, duration_s=60, workers=2), users=False)
    proc = start_submit(bed, path, tmp_path / "run")
    try:
        wait_first_arrival(bed, timeout_s=120)
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(90)
    finally:
        _end(proc)
    ended = time.time()
    out, err = (tmp_path / "submit.out").read_text(), (tmp_path / "submit.err").read_text()
    assert code == 130, err
    (job,) = [j for j in jobs(bed).values() if j["status"] in ("STOPPED", "RUNNING", "PENDING")]
    assert job["status"] == "STOPPED", job
    time.sleep(3.0)
    last = max(s.last for s in bed.recorder.stats().values())
    assert last < ended, f"arrival {last - ended:.2f}s after submit exited"
    # what loadray archived after Ray's SIGTERM came here, and the log was shown once
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    dataset, _ = open_dataset(tmp_path / "run")
    assert 40 <= summary["intended"] == dataset.count_rows() == bed.recorder.total() < 20 * 60, summary
    assert out.count("Running entrypoint") == 1, out


@contextlib.contextmanager
def bridge_store(bed: TestBed, bucket: str):
    """moto's S3 server on the bed's bridge address (the hosts reach it, as they reach the
    recorder) with ``bucket``: its endpoint URL and a file system on it."""
    assert bed.network is not None
    ip = bed.network.bridge_ip
    port = free_port(ip)
    with moto(port, Faults(), host=ip):
        fs = pafs.S3FileSystem(endpoint_override=f"{ip}:{port}", scheme="http", region="us-east-1",
                               access_key="x", secret_key="x", allow_bucket_creation=True)
        fs.create_dir(bucket)
        yield f"http://{ip}:{port}", fs


def job_runtime_env(bed: TestBed, job_id: str) -> dict:
    code = ("import json; from ray.job_submission import JobSubmissionClient as C\n"
            f"print(json.dumps(C({bed.dashboard_url!r}).get_job_info({job_id!r}).runtime_env))")
    done = subprocess.run([sys.executable, "-c", code], env=bed.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_out_s3_the_job_writes_the_run_to_the_store_and_nothing_comes_here(jobs_bed, tmp_path, monkeypatch):
    """The store's endpoint goes to the job from here; its credentials are the cluster's
    own (the bed's Ray environment), never in the job's runtime_env."""
    bed = jobs_bed
    path = write(tmp_path, scenario(bed.target_url, rate=60, duration_s=1, workers=2, thresholds=FAILING), users=False)
    uri = f"s3://loadray/runs/{tmp_path.name}"  # moto's buckets outlive its server: a new name each time
    left_before = cluster_run_dirs(bed)  # by other tests' jobs
    with bridge_store(bed, "loadray") as (endpoint, fs):
        env = {**submit_env(bed), "AWS_ENDPOINT_URL_S3": endpoint, "AWS_REGION": "us-east-1"}
        assert env["AWS_SECRET_ACCESS_KEY"]  # set here too: must not travel
        argv = [sys.executable, "-m", "loadray", "submit", str(path), "--address", bed.dashboard_url, "--out", uri]
        done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=JOB_TIMEOUT_S)
        seen = f"exit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        assert done.returncode == 99, seen
        assert done.stdout.rstrip().splitlines()[-1] == f"run directory: {uri}  (report: {uri}/report.html)", seen
        assert "receiving" not in done.stderr, seen
        assert sorted(os.listdir(tmp_path)) == ["scn"] and cluster_run_dirs(bed) == left_before, os.listdir(tmp_path)
        key = uri.removeprefix("s3://")
        summary = json.loads(fs.open_input_stream(f"{key}/summary.json").read())
        manifest = json.loads(fs.open_input_stream(f"{key}/samples/_manifest.json").read())
        assert fs.get_file_info(f"{key}/report.html").size > 10_000
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        dataset, _ = open_dataset(uri)
        rows = dataset.count_rows()
    assert summary["planned"] == summary["rows"] + summary["lost"] + summary["unknown"], summary
    assert rows == summary["rows"] == manifest["rows"] == sum(p["rows"] for p in manifest["parts"]) == 60, manifest
    assert bed.recorder.total() == 60 and summary["passed"] is False
    (job_id,) = re.findall(r"job (loadray-[0-9a-f]+) submitted", done.stderr)
    assert job_runtime_env(bed, job_id)["env_vars"] == {
        "RAY_JOB_STOP_WAIT_TIME_S": "30", "PYTHONUNBUFFERED": "1", "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_REGION": "us-east-1"}


def test_ray_job_submit_as_the_readme_documents(jobs_bed, tmp_path):
    """The README's command, with the bed's head address and token file in place of the
    placeholders: exit 1 for loadray's 99 (Ray says only FAILED), the code in the
    status message, the run directory at --out on the head node."""
    bed = jobs_bed
    path = write(tmp_path, scenario(bed.target_url, rate=50, duration_s=2, workers=2, thresholds=FAILING))
    out = tmp_path / "run"
    words = readme_command()
    placeholders = {"http://<head>:8265": bed.dashboard_url, "my-test.yaml": "scn/scenario.yaml",
                    "/shared/runs/my-test": str(out)}
    assert words[:3] == ["ray", "job", "submit"] and set(placeholders) <= set(words), words
    argv = [RAY, *(placeholders.get(w, w) for w in words[1:])]
    done = subprocess.run(argv, env=bed.env, cwd=tmp_path, capture_output=True, text=True, timeout=JOB_TIMEOUT_S)
    said = done.stdout + done.stderr
    assert done.returncode == 1, said[-6000:]
    assert "Status message: Job entrypoint command failed with exit code 99" in said, said[-6000:]
    check_local_run(out, planned=100, passed=False)
    (job_id,) = re.findall(r"Job '([^']+)' submitted successfully", said)
    status = subprocess.run([RAY, "job", "status", "--address", bed.dashboard_url, job_id], env=bed.env,
                            capture_output=True, text=True, timeout=60)
    assert "failed with exit code 99" in status.stdout + status.stderr, status


def readme_command() -> list[str]:
    """The ``ray job submit`` line of the README's cluster section, split into words."""
    text = (REPO / "README.md").read_text()
    line = next(x for x in text.splitlines() if x.startswith("ray job submit "))
    return line.split("#")[0].split()
