"""Bad input at the command line: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from cli_support import QUICKSTART


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
    assert_one_line_exit_2(cli(*args), fragment)


def assert_one_line_exit_2(done, fragment: str) -> None:
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


# -- issue 10: bounded input, one line and exit 2, nothing started -----------------------

BOMB_BODY = "\n".join(
    [f"      {a}: &{a} [{', '.join([f'*{p}'] * 9)}]" for p, a in zip("abcdefgh", "bcdefghi")]
)
BOMB = f"""\
target: http://127.0.0.1:9
load: {{phases: [{{duration: 1s, rate: 1}}]}}
requests:
  - name: r
    path: /
    json:
      a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
{BOMB_BODY}
"""


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["validate", "/dev/zero"], "/dev/zero: is not a regular file (a device, pipe or socket)"),
        (["validate", QUICKSTART, "--set", "workers=" + "9" * 5000],
         "--set workers: invalid value '9999"),
        (["validate", QUICKSTART, "--set", "load.phases.0.rate=" + "9" * 400],
         "load.phases[0].rate: must be a finite number, got an integer of about 401 digits"),
        (["validate", QUICKSTART, "--set", 'http.headers={"X\\r\\nY": a}'],
         "http.headers.'X\\r\\nY': not a valid header name"),
        (["validate", QUICKSTART, "--set", "requests.0.headers={X-Mood: 😀}"],
         "requests[0].headers.X-Mood: must be Latin-1 text"),
        (["validate", QUICKSTART, "--set", "target=http://{{ x }}"], "target: must be an http:// or https://"),
        (["validate", QUICKSTART, "--set", "load.phases.0.rate=1.0e+12"],
         "load.phases[0].rate: must be <= 10000000 req/s (raise limits.max_rate if you mean it)"),
        (["validate", QUICKSTART, "--set", "load.phases.0.duration=876000h"],
         "load.phases[0].duration: must be <= 7d"),
        (["control", "/tmp", "--rate", "inf"], "argument --rate: must be a finite number, got inf"),
        (["control", "/tmp", "--rate", "-5"], "argument --rate: must be >= 0, got -5"),
    ],
    ids=["dev-zero", "5000-digits", "400-digits", "crlf-header", "emoji-header", "template-target",
         "rate-1e12", "100-years", "control-inf", "control-negative"],
)
def test_unbounded_input_is_one_line_and_exit_2(cli, args, fragment):
    assert_one_line_exit_2(cli(*args, timeout=30), fragment)


def test_an_alias_bomb_fails_validate_fast(cli, tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    started = time.perf_counter()
    done = cli("validate", bomb, timeout=30)
    assert time.perf_counter() - started < 10  # > 60 s and 555 MB before
    assert done.returncode == 2
    assert done.stderr == (
        "loadray validate: error: requests[0].json.g: expands to more than 1000000 values through "
        "YAML aliases (raise limits.max_values if you mean it)\n"
    )


@pytest.mark.parametrize("override", [
    "load.phases.0.rate=1.0e+300",  # counts overflowing to inf: exit 1 after Ray started, before
    "load.phases.0.rate=" + "9" * 400,
    "requests.0.headers={X-Mood: 😀}",  # validated, then "latin-1 codec" after Ray started, before
])
def test_run_refuses_before_anything_starts(cli, tmp_path, override):
    out = tmp_path / "run"
    started = time.perf_counter()
    done = cli("run", QUICKSTART, "--out", out, "--set", override, timeout=60)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()  # no run directory
    assert time.perf_counter() - started < 15  # no Ray, no target


@pytest.fixture
def read_only_dir(tmp_path):
    """An empty directory on a read-only tmpfs (root only; mode bits do not stop root)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    ).returncode != 0:
        pytest.skip("needs root and mount")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("inside", [False, True])
def test_a_read_only_out_is_one_line_before_ray_starts(cli, read_only_dir, inside):
    out = read_only_dir / "new" if inside else read_only_dir
    started = time.perf_counter()
    done = cli("run", QUICKSTART, "--out", out, timeout=60)
    assert done.returncode == 2, done.stderr
    where = f" (in {read_only_dir})" if inside else ""
    assert done.stderr == f"loadray run: error: --out {out}: cannot write{where}: Read-only file system\n"
    assert time.perf_counter() - started < 15


def test_out_of_an_unknown_storage_scheme_is_refused_before_anything_starts(cli, tmp_path):
    # before, `--out s4://bucket/x` made a local folder `s4:/bucket/x` and ran the load into it
    done = cli("run", QUICKSTART, "--out", "s4://bucket/x", "--quiet", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert done.stderr.startswith("loadray run: error: --out s4:/bucket/x: unsupported storage scheme 's4'")
    assert list(tmp_path.iterdir()) == []
