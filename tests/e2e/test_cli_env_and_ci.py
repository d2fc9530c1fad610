"""``${VAR}`` references in a real run, and the CI outputs.

The target is a real aiohttp server on 127.0.0.1 that records every request: the
environment's values are really sent (``Authorization: Bearer ${TOKEN}``), and appear
in no file of the run directory (Parquet decoded), nor on stdout or stderr. The same
run writes ``--summary -`` (stdout: summary.json and nothing else) and ``--junit``.
"""

from __future__ import annotations

import pytest
import json
import os
import subprocess
import sys
from pathlib import Path

import junitparser
import yaml

from cli_support import REPO
from test_redaction_run import RecordingServer, _parquet_text

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

TOKEN = "tkQ83vLmz0envsecret"
NEEDLE = "ndl7741needlevalue"
SECRETS = (TOKEN, NEEDLE)


def _loadray(*args, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "TOKEN", "NEEDLE", "RATE")}
    return subprocess.run([sys.executable, "-m", "loadray", *map(str, args)], capture_output=True, text=True,
                          timeout=180, env={**full, **env}, cwd=REPO)


def _leaks(run_dir: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", "replace")
        if path.suffix == ".parquet":
            text += _parquet_text(path)
        hits = [s for s in SECRETS if s in text]
        if hits:
            found[str(path.relative_to(run_dir))] = hits
    return found


def _scenario(tmp_path: Path) -> Path:
    doc = {
        "name": "envrun",
        "target": "${plain:BASE_URL}",
        "workers": 1,
        "cluster": {"worker_cpus": 0.5},
        "load": {"phases": [{"duration": "1s", "rate": "${RATE}"}]},
        "http": {"headers": {"Authorization": "Bearer ${TOKEN}"}},
        "requests": [
            {"path": "/items?q=${TOKEN}"},  # a default step name made of a secret (q: not a secret name)
            {"path": "/check", "check": {"body_contains": "${NEEDLE}"}},  # fails: a check named after one
        ],
        "thresholds": ["p99 < ${plain:P99:-2s}", "error_rate < 1%"],
    }
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_environment_values_are_sent_never_archived_and_the_ci_outputs_are_written(tmp_path):
    scenario, out, junit = _scenario(tmp_path), tmp_path / "run", tmp_path / "ci" / "thresholds.xml"
    env_file = tmp_path / ".env"
    env_file.write_text(f"# CI secrets\nexport TOKEN='{TOKEN}'\nRATE=20\n")
    with RecordingServer() as server:
        env = {"BASE_URL": server.url, "NEEDLE": NEEDLE}
        done = _loadray("run", scenario, "--out", out, "--env-file", env_file, "--summary", "-",
                        "--junit", junit, env=env)
        validated = _loadray("validate", scenario, "--env-file", env_file, env=env)
    assert done.returncode == 99, done.stderr  # the failing check breaks "error_rate < 1%"
    assert len(server.seen) == 20
    assert all(f"'Authorization': 'Bearer {TOKEN}'" in seen for seen in server.seen)
    assert sum(f"GET /items?q={TOKEN} " in seen for seen in server.seen) == 10

    summary_text = (out / "summary.json").read_text()
    assert done.stdout == summary_text  # --summary -: stdout is that JSON and nothing else
    summary = json.loads(summary_text)
    assert summary["intended"] == 20 and summary["ok"] == 10
    assert set(summary["steps"]) == {"GET /items?q=***", "GET /check"}
    assert summary["checks"] == {"body contains '***'": 10}
    assert f"run directory: {out}" in done.stderr  # the human lines moved to stderr

    suite = next(iter(junitparser.JUnitXml.fromfile(str(junit))))
    cases = {case.name: case for case in suite}
    assert set(cases) == {"p99 < 2s", "error_rate < 1%"} and suite.tests == 2 and suite.failures == 1
    assert cases["p99 < 2s"].is_passed
    (failure,) = cases["error_rate < 1%"].result
    assert failure.message == "error_rate < 1% failed: measured 50%"

    assert _leaks(out) == {}
    assert [s for s in SECRETS if s in done.stdout + done.stderr + junit.read_text()] == []
    archived = (out / "scenario.yaml").read_text()
    assert "Bearer ${TOKEN}" in archived and "q=${TOKEN}" in archived and "p99 < 2s" in archived
    assert validated.returncode == 0, validated.stderr
    assert [s for s in SECRETS if s in validated.stdout + validated.stderr] == []


def test_an_unset_variable_is_one_line_naming_the_yaml_path(tmp_path):
    done = _loadray("validate", _scenario(tmp_path), env={"BASE_URL": "http://127.0.0.1:9", "RATE": "5"})
    assert done.returncode == 2
    assert done.stderr == ("loadray validate: error: http.headers.Authorization: environment variable TOKEN is "
                           "not set (set it, pass --env-file, or write ${TOKEN:-default})\n")
