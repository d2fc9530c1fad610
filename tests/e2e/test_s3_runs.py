"""Runs whose workers write their own Parquet parts: to an S3 server and to a local dir.

A real S3-compatible server (moto's, on 127.0.0.1; pyarrow's ``S3FileSystem`` talks to
it over HTTP) and a local directory each get a 3-worker run. ``loadray report``,
``loadray compare``, ``loadray.open_run``, DuckDB and polars read both and agree on the
counts and p99. A worker killed (SIGKILL, by its PID) in the middle of a run leaves a
dataset every reader opens and a manifest whose counts match the rows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from cli_support import REPO, loadray
from s3_support import s3_server

pytest.importorskip("moto.server")
pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

BUCKET = "loadray-runs"
SCENARIO = """\
name: s3-run
target:
  builtin: {latency: 2ms, jitter: 2ms, error_rate: 1%}
workers: 3
load:
  model: open
  phases:
    - {duration: DURATION, rate: RATE}
requests:
  - {name: home, path: /}
  - {name: search, path: /search}
cluster: {worker_cpus: 0.3}
thresholds: ["p99 < 5s"]
"""
DONE = "error IS NULL OR error NOT IN ('dropped', 'cut', 'fenced')"


def _scenario(tmp: Path, rate: int, duration: str) -> Path:
    path = tmp / "s3-run.yaml"
    path.write_text(SCENARIO.replace("RATE", str(rate)).replace("DURATION", duration))
    return path


@pytest.fixture(scope="module")
def s3():
    with s3_server(BUCKET) as server:
        yield server


@pytest.fixture(scope="module")
def runs(s3, tmp_path_factory):
    """One run to S3 and one to a local directory: (uri, local dir, S3 summary, local summary)."""
    tmp = tmp_path_factory.mktemp("runs")
    scenario, uri, local = _scenario(tmp, 300, "4s"), f"s3://{BUCKET}/runs/a", tmp / "local"
    for out in (uri, local):
        done = loadray("run", scenario, "--out", out, "--quiet", timeout=240)
        assert done.returncode == 0, done.stderr
    with s3.fs.open_input_stream(f"{BUCKET}/runs/a/summary.json") as f:
        remote = json.loads(f.read())
    return uri, local, remote, json.loads((local / "summary.json").read_text())


def _parts(s3, where: str) -> list:
    if where.startswith("s3://"):
        return _manifest(s3, where[len("s3://"):])["parts"]
    return json.loads((Path(where) / "samples" / "_manifest.json").read_text())["parts"]


def _manifest(s3, key: str) -> dict:
    with s3.fs.open_input_stream(f"{key}/samples/_manifest.json") as f:
        return json.loads(f.read())


def test_every_worker_wrote_its_own_parts_to_s3_and_the_manifest_lists_them(s3, runs):
    _, local, remote, _ = runs
    manifest = _manifest(s3, f"{BUCKET}/runs/a")
    names = sorted(i.base_name for i in s3.fs.get_file_info(
        pafs.FileSelector(f"{BUCKET}/runs/a/samples")) if i.base_name.endswith(".parquet"))
    assert manifest["complete"] and sorted(p["file"] for p in manifest["parts"]) == names
    assert {p["worker"] for p in manifest["parts"]} == {0, 1, 2}
    assert manifest["rows"] == remote["intended"] == 1200
    record = manifest["record"]
    assert (record["planned"], record["rows"], record["lost"], record["unknown"]) == (1200, 1200, 0, 0)
    local_manifest = json.loads((local / "samples" / "_manifest.json").read_text())
    assert local_manifest["rows"] == 1200 and {p["worker"] for p in local_manifest["parts"]} == {0, 1, 2}
    # the driver closed both before its final listing: no worker completes a part later
    assert s3.fs.get_file_info(f"{BUCKET}/runs/a/samples/_closed").type == pafs.FileType.File
    assert (local / "samples" / "_closed").is_file()
    # every object one PutObject: no multipart upload, so none a failure could leave incomplete
    assert s3.faults.uploads_started == 0 and s3.incomplete_uploads() == []


def test_report_open_run_duckdb_and_polars_agree_on_both(s3, runs):
    import duckdb
    import polars as pl

    import loadray

    uri, local, remote, here = runs
    for where, summary in ((uri, remote), (str(local), here)):
        assert summary["intended"] == summary["sent"] + summary["dropped"] == 1200
        run = loadray.open_run(where)
        assert run.rows == 1200 and run.summary == summary
        assert run.percentiles(by="step").loc["home", "latency_p99_ms"] == summary["steps"]["home"]["latency_ms"]["p99"]
        samples = run.dataset  # noqa: F841  (DuckDB reads it by name)
        n, p99 = duckdb.sql(f"SELECT count(*), round(quantile_cont(latency_ns, 0.99) FILTER (WHERE {DONE}) "
                            "/ 1e6, 3) FROM samples").fetchall()[0]
        assert (n, p99) == (1200, summary["latency_ms"]["p99"])
        options = s3.polars_options() if where.startswith("s3://") else None
        assert len(run.files) == len(_parts(s3, where))  # the parts the manifest lists, as README says
        frame = pl.scan_parquet(run.files, storage_options=options)
        done = ~pl.col("error").cast(pl.Utf8).is_in(["dropped", "cut", "fenced"]).fill_null(False)
        row = frame.select(pl.len(), pl.col("latency_ns").filter(done).quantile(0.99, "linear")).collect().row(0)
        assert row[0] == 1200 and round(row[1] / 1e6, 3) == summary["latency_ms"]["p99"]


def test_report_and_compare_read_both(runs):
    from loadray.report.text import format_ms

    uri, local, remote, here = runs
    again = loadray("report", uri, timeout=240)
    assert again.returncode == 0, again.stderr
    done = loadray("compare", uri, local, timeout=240)
    assert done.returncode in (0, 99), done.stderr
    p99 = [line for line in done.stdout.splitlines() if line.strip().startswith("latency p99")]
    assert p99 and p99[0].split()[2:4] == [format_ms(remote["latency_ms"]["p99"]), format_ms(here["latency_ms"]["p99"])]


def _worker_pids(endpoint: str) -> list[int]:
    """Ray worker processes of our run's WorkerActors: they, and only they, carry our
    S3 server's address in their environment (also if other tests run Ray meanwhile)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"WorkerActor" in cmdline and f"AWS_ENDPOINT_URL_S3={endpoint}".encode() in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize("where", ["s3", "local"])
def test_a_worker_killed_mid_run_leaves_readable_parts_and_an_exact_manifest(s3, tmp_path, where):
    import duckdb
    import polars as pl

    import loadray

    scenario = _scenario(tmp_path, 900, "8s")
    uri = f"s3://{BUCKET}/runs/killed" if where == "s3" else str(tmp_path / "killed")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    child = subprocess.Popen([sys.executable, "-m", "loadray", "run", str(scenario), "--out", uri, "--quiet"],
                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, victims = time.monotonic() + 90, []
        while time.monotonic() < deadline and len(victims) < 3:
            time.sleep(0.5)
            victims = _worker_pids(s3.endpoint)
        assert len(victims) == 3, "the run's three workers did not start"
        time.sleep(4.5)  # mid-run: each worker has a part open (parts complete every 5 s)
        os.kill(victims[0], signal.SIGKILL)
        out, err = child.communicate(timeout=180)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode in (0, 1, 99), err
    if where == "s3":
        manifest = _manifest(s3, f"{BUCKET}/runs/killed")
    else:
        manifest = json.loads((tmp_path / "killed" / "samples" / "_manifest.json").read_text())
        assert not [p.name for p in (tmp_path / "killed" / "samples").iterdir() if p.name.startswith(".")]
    run = loadray.open_run(uri)
    samples = run.dataset
    n = duckdb.sql("SELECT count(*) FROM samples").fetchall()[0][0]
    options = s3.polars_options() if where == "s3" else None
    counted = pl.scan_parquet(f"{uri}/samples/*.parquet", storage_options=options).select(pl.len()).collect().item()
    assert manifest["rows"] == run.rows == n == counted == samples.count_rows() > 0
    per_part = {p["file"]: p["rows"] for p in manifest["parts"]}
    for part in samples.get_fragments():
        assert per_part.pop(part.path.rsplit("/", 1)[-1]) == part.count_rows()
    assert per_part == {}
    record = manifest["record"]
    assert record["dead_workers"] and record["rows"] + record["lost"] + record["unknown"] == record["planned"]
    assert record["rows"] == manifest["rows"] and record["unknown"] + record["lost"] > 0
    assert s3.incomplete_uploads() == []  # the killed worker's open part was never uploaded


def test_a_used_prefix_or_a_missing_bucket_is_refused_before_any_load(s3, runs, tmp_path):
    scenario = _scenario(tmp_path, 300, "1s")
    used = loadray("run", scenario, "--out", f"s3://{BUCKET}/runs/a", "--quiet")
    assert used.returncode == 2 and used.stderr.strip().splitlines()[-1] == (
        f"loadray run: error: --out s3://{BUCKET}/runs/a: already exists and is not empty")
    missing = loadray("run", scenario, "--out", "s3://no-such-bucket/runs/b", "--quiet")
    assert missing.returncode == 2 and missing.stderr.strip().splitlines()[-1] == (
        "loadray run: error: --out s3://no-such-bucket/runs/b: bucket 'no-such-bucket' does not exist")
    with s3.fs.open_input_stream(f"{BUCKET}/runs/a/summary.json") as f:
        assert json.loads(f.read()) == runs[2]  # untouched
