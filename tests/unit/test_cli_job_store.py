"""``loadray submit --out URI`` without Ray: the URI's check, what the job is given
(entrypoint, runtime_env), and the job's side against a real S3 server (moto's, on
127.0.0.1): loadray refusing a run that exists, the store holding one."""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from s3_support import s3_server

from loadray.cli.job_entry import main as entry_main
from loadray.cli.job_entry import parse, run_is_stored, stored
from loadray.cli.job_protocol import marker
from loadray.archive.fs import spelled_as_uri as is_store_uri
from loadray.cli.job_store import check_store_uri, job_out
from loadray.cli.job_upload import entrypoint
from loadray.cli.submit import Submission, job_env
from loadray.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
SCENARIO = """\
name: stored
target: "http://127.0.0.1:9"
load: {phases: [{duration: 1s, rate: 5}]}
requests: [{name: r, method: GET, path: /}]
"""


@pytest.mark.parametrize("text", ["s3://bucket/runs/x", "s3://bucket/x/", "gs://b/p/q", "file:///shared/runs/x",
                                  "s3://b/runs/x?endpoint_override=10.0.0.1:9000&scheme=http", "hdfs://nn/runs/x"])
def test_a_store_uri_with_a_place_below_its_bucket_is_taken_as_written(text):
    assert is_store_uri(text) and check_store_uri(text) == text


@pytest.mark.parametrize("text, why", [
    ("s4://bucket/x", "unsupported storage scheme 's4'"),
    ("http://bucket/x", "unsupported storage scheme 'http'"),
    ("mock://bucket/x", "unsupported storage scheme 'mock'"),
    ("s3://bucket", "expected s3://bucket/path"),
    ("s3://bucket/", "expected s3://bucket/path"),
    ("s3:///x/y", "expected s3://bucket/path"),
    ("s3:/bucket/x", "expected s3://bucket/path"),
    ("s3:bucket/x", "expected s3://bucket/path"),
    ("file://host/x", "expected file:///absolute/path"),
    ("s3://b/a b", "has no blanks"),
    ("s3://b/x/../y", "'..' are not allowed"),
])
def test_a_malformed_or_unsupported_uri_is_one_usage_error_naming_out(text, why):
    assert is_store_uri(text)
    with pytest.raises(UsageError) as caught:
        check_store_uri(text)
    message = str(caught.value)
    assert message.startswith(f"--out {text}") or message.startswith(f"--out {text!r}"), message
    assert why in message and "\n" not in message, message


@pytest.mark.parametrize("text", ["runs/x", "/abs/runs/x", "my:run", "C:\\runs\\x", "./s3:/b"])
def test_a_local_directory_is_not_a_store(text):
    assert not is_store_uri(text) and job_out(text, "s3://b/base", "n") is None


def test_the_scenarios_archive_uri_is_used_when_out_is_not_given():
    assert job_out(None, "s3://b/base?region=eu-west-1", "nightly").startswith("s3://b/base/")
    assert job_out(None, "s3://b/base?region=eu-west-1", "nightly").endswith("-nightly?region=eu-west-1")
    assert job_out(None, "runs/nightly", "nightly") is None and job_out(None, None, "n") is None
    assert job_out(None, "http://host/base", "n") is None  # not a store: a local path, as before
    assert job_out("s3://b/mine", "s3://b/base", "n") == "s3://b/mine"


def test_the_job_gets_the_stores_settings_never_its_credentials():
    here = {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "tok",
            "AWS_PROFILE": "me", "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_S3": "http://10.77.0.1:9000",
            "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "", "HOME": "/root"}
    env = job_env(here, "s3://b/x")
    assert env == {"RAY_JOB_STOP_WAIT_TIME_S": "30", "PYTHONUNBUFFERED": "1",
                   "AWS_ENDPOINT_URL_S3": "http://10.77.0.1:9000", "AWS_REGION": "eu-west-1"}
    assert job_env(here, None) == {"RAY_JOB_STOP_WAIT_TIME_S": "30", "PYTHONUNBUFFERED": "1"}


def test_the_entrypoint_hands_the_uri_to_the_job_and_the_job_reads_it_back():
    uri = "s3://b/runs/x?endpoint_override=10.77.0.1:9000&scheme=http"
    words = shlex.split(entrypoint("loadray-ab", 1024, ["limits.x=a b"], quiet=False, out=uri))
    assert words[:3] == ["python", "-m", "loadray.cli.job_entry"]
    args = parse(words[3:])
    assert (args.id, args.fetch_limit, args.out) == ("loadray-ab", 1024, uri)
    assert args.run_args == ["scenario.yaml", "--set", "limits.x=a b"]
    assert parse(shlex.split(entrypoint("loadray-ab", 1024, [], quiet=True))[3:]).out is None


def test_submit_refuses_a_bad_uri_in_one_line_before_anything_is_made_or_asked(tmp_path):
    (tmp_path / "s.yaml").write_text(SCENARIO)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "loadray", "submit", "s.yaml", "--address", "http://127.0.0.1:9",
                           "--out", "s4://bucket/x"], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("loadray submit: error: --out s4://bucket/x: unsupported storage scheme 's4' (a local "
                           "directory, or one of s3://, gs://, gcs://, hdfs://, viewfs://, abfs://, abfss://, "
                           "file://)\n"), done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def finish(log: str, stopped: int | None = None) -> int:
    """What ``loadray submit`` makes of a job's whole log (no job server is asked:
    the log ends with loadray's exit code)."""
    sub = Submission(None, "loadray-t", "s3://b/runs/x", quiet=False, fetch_limit=1024)
    try:
        sub._lines(log)
        return sub.finish(stopped)
    finally:
        sub.bundle_file.close()


def test_a_stored_run_is_named_at_the_end_and_the_exit_code_is_loadrays(capsys):
    log = "\n".join([marker("loadray-t", "start"), "loadray's summary", marker("loadray-t", "stored", "s3://b/runs/x"),
                     marker("loadray-t", "exit", 99)]) + "\n"
    assert finish(log) == 99
    assert capsys.readouterr().out.splitlines() == [
        "loadray's summary", "run directory: s3://b/runs/x  (report: s3://b/runs/x/report.html)"]
    assert finish(log.replace(" exit 99", " exit 143"), stopped=143) == 143
    assert capsys.readouterr().out.splitlines()[-1].startswith("run directory: s3://b/runs/x  ")


def test_loadrays_own_last_line_naming_the_run_is_not_repeated(capsys):
    where = "run directory: s3://b/runs/x  (report: s3://b/runs/x/report.html)"
    log = "\n".join([marker("loadray-t", "start"), where, marker("loadray-t", "stored", "s3://b/runs/x"),
                     marker("loadray-t", "exit", 0)]) + "\n"
    assert finish(log) == 0
    assert capsys.readouterr().out.splitlines() == [where]


def test_a_stopped_job_with_no_word_says_where_the_run_would_be(capsys):
    assert finish(marker("loadray-t", "start") + "\n", stopped=130) == 130
    said = capsys.readouterr()
    assert said.out == "" and "it is at s3://b/runs/x if loadray there had begun it" in said.err, said


def test_the_job_passes_on_loadrays_refusal_of_a_run_that_exists(tmp_path, monkeypatch, capfd):
    """The job's side for real (``loadray run`` refuses before it asks for Ray), then
    ``loadray submit``'s reading of that log: loadray's line shown, exit 2, no place."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenario.yaml").write_text(SCENARIO)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    bucket = f"jobstore-{secrets.token_hex(4)}"  # moto's buckets outlive its server
    with s3_server(bucket) as s3:
        s3.fs.open_output_stream(f"{bucket}/old/scenario.yaml").close()
        code = entry_main(["--id", "loadray-t", "--fetch-limit", "1024", "--out", f"s3://{bucket}/old", "--",
                           "scenario.yaml"])
        log = capfd.readouterr()
        assert code == 2 and s3_files(s3.fs, bucket) == [f"{bucket}/old/scenario.yaml"]  # untouched, nothing added
    assert f"loadray run: error: --out s3://{bucket}/old: already exists and is not empty" in log.err, log
    assert log.out.splitlines() == [marker("loadray-t", "start"), marker("loadray-t", "exit", 2)], log.out
    assert finish(log.out + log.err) == 2
    shown = capfd.readouterr().out
    assert "already exists and is not empty" in shown and "run directory:" not in shown, shown
    assert not (tmp_path / "runs").exists()


def s3_files(fs: pafs.FileSystem, bucket: str) -> list[str]:
    return sorted(i.path for i in fs.get_file_info(pafs.FileSelector(bucket, recursive=True))
                  if i.type == pafs.FileType.File)


def test_the_job_tells_a_stored_run_by_its_scenario_file():
    said: list[str] = []
    bucket = f"jobstore-{secrets.token_hex(4)}"
    with s3_server(bucket) as s3:
        assert not stored(f"s3://{bucket}/new", said.append)
        with s3.fs.open_output_stream(f"{bucket}/new/scenario.yaml") as f:
            f.write(b"name: x\n")
        assert stored(f"s3://{bucket}/new", said.append) and said == []
        assert not stored("s3://missing-bucket/new", said.append)


@pytest.mark.parametrize("code, held, want, asked", [
    (0, False, True, 0), (99, False, True, 0),  # loadray wrote its summary there: no need to ask
    (2, True, False, 0),  # refused: what is there is another run's
    (130, True, True, 1), (143, False, False, 1), (1, True, True, 1),
])
def test_the_job_asks_the_store_only_when_loadrays_exit_code_cannot_tell(code, held, want, asked):
    looked: list[int] = []
    assert run_is_stored(code, lambda: looked.append(1) or held) is want and len(looked) == asked
