"""A streamed run (``stream:`` steps: a chunks/ side table) written straight to an S3
server (moto's, on 127.0.0.1), through a store that refuses every write for a while in
the middle of the run, then stopped by SIGINT while its streams are in flight: the run
directory holds samples/ and chunks/ like a local run's, the manifest's counts are
exact, every completed request has its 10 chunks exactly once, no multipart upload is
left incomplete, and ``loadray report`` and ``open_run`` read it from the URI. (Before,
such a run was refused: exit 2.)"""

from __future__ import annotations

import json
import signal
import time

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
from cli_support import loadray as cli
from marked import kill_marked, new_marker, start_run
from s3_support import s3_server

pytest.importorskip("moto.server")
pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

BUCKET = "loadray-streamed"
SCENARIO = """\
name: s3-stream
target:
  builtin: {}
workers: 2
load:
  model: open
  phases:
    - {duration: 20s, rate: 20}
requests:
  - {name: chunks, path: "/stream?chunks=10&interval=5ms", stream: chunks}
cluster: {worker_cpus: 0.3}
"""


def _wait(predicate, timeout_s: float, proc) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if proc.poll() is not None or time.monotonic() >= deadline:  # the run's whole output: why it stopped
            out, err = proc.communicate(timeout=60)
            raise AssertionError(f"exit {proc.returncode} while waiting\n--- stdout\n{out}\n--- stderr\n{err}")
        time.sleep(0.05)


def _file(s3, key: str) -> bool:
    return s3.fs.get_file_info(f"{BUCKET}/{key}").type == pafs.FileType.File


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """The run: the store refuses writes from 3.5 s into the load until it refused both
    workers' first parts (due ~6 s in), then SIGINT 0.5 s later (long before its end)."""
    scenario = tmp_path_factory.mktemp("streamed") / "s3-stream.yaml"
    scenario.write_text(SCENARIO)
    uri, marker = f"s3://{BUCKET}/runs/streamed", new_marker()
    with s3_server(BUCKET) as s3:
        proc = start_run(marker, scenario, "--out", uri, "--quiet")
        try:
            _wait(lambda: _file(s3, "runs/streamed/samples/_manifest.json"), 120, proc)  # the load begins
            time.sleep(3.5)
            s3.faults.refuse_writes = True
            _wait(lambda: {p.rsplit("/", 1)[-1][:10] for p in s3.faults.refused_paths} >= {"worker-000", "worker-001"},
                  10, proc)  # each worker's first part
            s3.faults.refuse_writes = False
            time.sleep(0.5)  # the workers write their rows again (in new parts, open at the signal)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
            with s3.fs.open_input_stream(f"{BUCKET}/runs/streamed/samples/_manifest.json") as f:
                manifest = json.loads(f.read())
        finally:
            s3.faults.refuse_writes = False
            if proc.poll() is None:
                proc.kill()
            kill_marked(marker)
        yield s3, uri, proc.returncode, err, manifest


def test_the_store_refused_writes_mid_run_and_the_interrupted_run_is_exact(streamed):
    s3, uri, code, err, manifest = streamed
    assert code == 130, err
    assert s3.faults.refused >= 2 and s3.incomplete_uploads() == []
    assert s3.faults.uploads_started == 0  # every object one PutObject
    files = {p["file"] for p in manifest["parts"]}
    assert manifest["complete"] and not any(f.endswith("-0000.parquet") for f in files)  # the refused parts
    record = manifest["record"]
    assert record["interrupted"].startswith("SIGINT at ")
    assert record["rows"] + record["lost"] + record["unknown"] == record["planned"] == manifest["rows"]
    listing = s3.fs.get_file_info(pafs.FileSelector(f"{BUCKET}/runs/streamed/chunks"))
    assert sorted(i.base_name for i in listing) == sorted(files)  # each part's companion, no other
    samples = ds.dataset(f"{BUCKET}/runs/streamed/samples", filesystem=s3.fs, format="parquet").to_table()
    chunks = ds.dataset(f"{BUCKET}/runs/streamed/chunks", filesystem=s3.fs, format="parquet").to_table()
    assert samples.num_rows == manifest["rows"] > 100
    ok = {(w, f) for w, f, e in zip(*(samples.column(c).to_pylist() for c in ("worker", "flow_id", "error")))
          if e is None}
    per_request = {}
    for w, f in zip(chunks.column("worker").to_pylist(), chunks.column("flow_id").to_pylist()):
        per_request[(w, f)] = per_request.get((w, f), 0) + 1
    assert len(ok) > 100 and {per_request.get(k) for k in ok} == {10}  # each exactly once
    assert set(per_request) <= {(w, f) for w, f in zip(samples.column("worker").to_pylist(),
                                                       samples.column("flow_id").to_pylist())}


def test_report_and_open_run_read_it_from_the_uri(streamed):
    import loadray

    s3, uri, _, _, manifest = streamed
    with s3.fs.open_input_stream(f"{BUCKET}/runs/streamed/summary.json") as f:
        summary = json.loads(f.read())
    stream = summary["steps"]["chunks"]["stream"]
    assert stream["requests"] == summary["ok"] and stream["chunks"]["p50"] == 10
    report = cli("report", uri)
    assert report.returncode in (0, 1), report.stderr  # an interrupted run's verdict
    assert "stream chunks: first chunk p50" in report.stdout
    run = loadray.open_run(uri)
    assert run.rows == manifest["rows"] and run.summary["steps"]["chunks"]["stream"] == stream
