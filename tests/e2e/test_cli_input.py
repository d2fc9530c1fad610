"""Bad input at the command line: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import pytest

from conftest import QUICKSTART


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["validate", "missing.yaml"], "missing.yaml: no such file"),
        (["validate", QUICKSTART, "--set", "load.phases.0.rate=-5"], "load.phases[0].rate: must be > 0, got -5"),
        (["validate", QUICKSTART, "--set", "load.phases.1.rate=-5"], "load.phases[1].rate: must be >= 0, got -5"),
        (["validate", QUICKSTART, "--set", "workers=two"], "workers: must be an integer"),
        (["validate", QUICKSTART, "--set", "load.phases.7.rate=5"], "--set load.phases.7.rate"),
        (["run", QUICKSTART, "--set", "load.phases.0.duration=soon"], "load.phases[0].duration"),
        (["run"], "SCENARIO"),
        (["frobnicate"], "invalid choice"),
        (["target", "--latency", "fast"], "--latency"),
        (["report", "/nonexistent/run"], "/nonexistent/run"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, args, fragment):
    done = cli(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert fragment in lines[0]
    assert "Traceback" not in done.stderr


def test_bad_yaml_names_file_line_and_column(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nload:\n  phases: [\n")
    done = cli("validate", bad)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert f"{bad}:" in done.stderr and "invalid YAML" in done.stderr


def test_validate_prints_the_plan(cli):
    done = cli("validate", QUICKSTART)
    assert done.returncode == 0, done.stderr
    # 5 s x 200 + 10 s ramp 200->1000 + 5 s x 1000
    assert "12000 intended requests" in done.stdout and "2 workers" in done.stdout


BAD_FLOW = """\
target: http://127.0.0.1:9
load: {phases: [{duration: 1s, rate: 1}]}
flows:
  - name: checkout
    steps:
      - {name: login, method: POST, path: /login,
         extract: {name: token, source: json, expr: token}}
      - {path: /cart, headers: {Authorization: "Bearer {{ tokn }}"}}
"""


def test_validate_bad_flow_is_one_line_and_exit_2(cli, tmp_path):
    bad = tmp_path / "flow.yaml"
    bad.write_text(BAD_FLOW)
    done = cli("validate", bad)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].endswith(
        "flows[0].steps[1].headers.Authorization: unknown variable 'tokn' "
        "(known here: token, login.token, now, user, uuid, worker)"
    )
