"""A failure inside the generator through ``loadray run`` on a real target (the built-in
one, on 127.0.0.1): the rows are archived with their error kind and detail, and the
run exits 1 with the line that says why."""

from __future__ import annotations

import pytest
import json
import time

import pyarrow.dataset as ds
import yaml

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

FAST = ["--quiet", "--set", "cluster.worker_cpus=0.5"]


def scenario(tmp_path, steps: list) -> str:
    doc = {"name": "gen", "target": "builtin", "workers": 1,
           "load": {"phases": [{"duration": "2s", "rate": 10}]},
           "flows": [{"name": "f", "steps": steps}]}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_an_extraction_that_raises_records_every_row_and_exits_1(cli, tmp_path):
    steps = [{"name": "id", "path": "/id", "query": {"value": "x"},
              "extract": {"name": "v", "source": "json", "expr": "foo(@)"}}]
    out = tmp_path / "run"
    done = cli("run", scenario(tmp_path, steps), "--out", out, *FAST)
    assert done.returncode == 1, done.stderr
    rows = ds.dataset(out / "samples", format="parquet").to_table().to_pydict()
    assert len(rows["error"]) == 20 and set(rows["error"]) == {"extract"} and set(rows["status"]) == {200}
    assert set(rows["error_detail"]) == {"v: UnknownFunctionError: Unknown function: foo()"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["intended"] == summary["sent"] == 20 and summary["passed"] is False
    line = "20 requests failed inside the generator (extract 20): extract: v: UnknownFunctionError: Unknown function: foo()"
    assert summary["generator_error"] == line
    assert "20 requests failed inside the generator" in done.stdout
    assert "Traceback" not in done.stderr and "UnknownFunctionError" not in done.stderr


def test_a_catastrophic_regex_extracts_quickly_and_the_run_passes(cli, tmp_path):
    steps = [{"name": "echo", "method": "POST", "path": "/echo", "body": "a" * 40 + "!",
              "extract": {"name": "m", "source": "regex", "expr": "(a+)+$"}}]
    out = tmp_path / "run"
    started = time.monotonic()
    done = cli("run", scenario(tmp_path, steps), "--out", out, *FAST)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["intended"] == summary["ok"] == 20 and summary["lost"] == 0
    assert summary["generator_error"] is None and not any("never sent" in w for w in summary["warnings"])
    assert time.monotonic() - started < 60  # Python's re would spin on each response for hours
