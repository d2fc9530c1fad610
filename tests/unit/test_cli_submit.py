"""``loadray submit`` before anything reaches a cluster: the token switch, the address
check, what is uploaded (the scenario with its files), and the entrypoint command."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadray.cli.job_upload import entrypoint, stage
from loadray.cli.submit import check_address, exit_code, token_auth_env
from loadray.errors import UsageError
from loadray.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("env, token_file, want", [
    ({}, False, {}),
    ({}, True, {"RAY_AUTH_MODE": "token"}),
    ({"RAY_AUTH_TOKEN": "abc"}, False, {"RAY_AUTH_MODE": "token"}),
    ({"RAY_AUTH_TOKEN_PATH": "/x/token"}, False, {"RAY_AUTH_MODE": "token"}),
    ({"RAY_AUTH_TOKEN": "abc", "RAY_AUTH_MODE": "disabled"}, True, {}),  # said explicitly: kept
    ({"RAY_AUTH_MODE": "token"}, False, {}),
])
def test_token_auth_is_switched_on_when_a_token_is_named(tmp_path, env, token_file, want):
    file = tmp_path / "auth_token"
    if token_file:
        file.write_text("t" * 64)
    assert token_auth_env(env, file) == want


@pytest.mark.parametrize("address", ["10.0.0.1:6379", "auto", "ray://head:10001", "http://", "head:8265"])
def test_the_address_must_be_the_dashboards(address):
    with pytest.raises(UsageError, match="--address .*http://HEAD:8265"):
        check_address(address)


def test_a_dashboard_address_is_kept():
    assert check_address("http://10.77.0.11:8265/") == "http://10.77.0.11:8265"
    assert check_address("https://ray.example.org") == "https://ray.example.org"


SCENARIO = """
name: staged
target: http://127.0.0.1:9
workers: 2
load: {model: open, phases: [{duration: 2s, rate: 10}]}
feeders:
  - {name: users, file: ../data/users.csv}
  - {name: items, file: items.jsonl, mode: random}
http:
  tls: {verify: true, ca: certs/ca.pem}
flows:
  - name: f
    steps: [{name: s, method: GET, path: "/u/{{ users.id }}/{{ items.sku }}"}]
"""


def write_scenario(root: Path) -> Path:
    (root / "data").mkdir()
    (root / "data" / "users.csv").write_text("id\n1\n2\n")
    folder = root / "scn"
    (folder / "certs").mkdir(parents=True)
    (folder / "items.jsonl").write_text('{"sku": "a"}\n{"sku": "b"}\n')
    (folder / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (folder / "s.yaml").write_text(SCENARIO)
    return folder / "s.yaml"


def test_the_upload_holds_the_scenario_and_every_file_it_names(tmp_path):
    original = load_scenario(write_scenario(tmp_path), ["load.phases.0.rate=20", "limits.max_feeder_size=1MiB"])
    up = tmp_path / "up"
    up.mkdir()
    repeat = stage(original, up, ["load.phases.0.rate=20", "limits.max_feeder_size=1MiB"])
    assert repeat == ["limits.max_feeder_size=1MiB"]
    assert sorted(p.relative_to(up).as_posix() for p in up.rglob("*") if p.is_file()) == [
        "files/feeder0-users.csv", "files/feeder1-items.jsonl", "files/tls-ca-ca.pem", "scenario.yaml"]
    doc = yaml.safe_load((up / "scenario.yaml").read_text())
    assert [f["file"] for f in doc["feeders"]] == ["files/feeder0-users.csv", "files/feeder1-items.jsonl"]
    assert doc["http"]["tls"]["ca"] == "files/tls-ca-ca.pem" and doc["load"]["phases"][0]["rate"] == 20
    copy = load_scenario(up / "scenario.yaml", repeat)
    assert copy.name == "staged" and copy.phases == original.phases and copy.feeds[0].rows == original.feeds[0].rows
    assert copy.feeds[1].rows == original.feeds[1].rows and copy.http.tls.ca_file == str(up / "files/tls-ca-ca.pem")


def test_the_entrypoint_is_one_quoted_shell_command():
    command = entrypoint("loadray-ab", 1024, ["limits.max_depth=40", "limits.x=a b"], quiet=True)
    assert shlex.split(command) == ["python", "-m", "loadray.cli.job_entry", "--id", "loadray-ab", "--fetch-limit",
                                    "1024", "--", "scenario.yaml", "--set", "limits.max_depth=40", "--set",
                                    "limits.x=a b", "--quiet"]


def test_a_bad_scenario_is_one_line_and_exit_2_before_any_cluster_is_asked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SCENARIO.replace("rate: 10", "rate: -5").replace("../data/users.csv", "users.csv"))
    (tmp_path / "users.csv").write_text("id\n1\n")
    (tmp_path / "items.jsonl").write_text('{"sku": "a"}\n')
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("x")
    done = subprocess.run([sys.executable, "-m", "loadray", "submit", str(bad), "--address", "http://127.0.0.1:9",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "load.phases[0].rate" in done.stderr, done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("stopped, loadray, fetched, want", [
    (None, 0, True, 0),
    (None, 99, True, 99),
    (None, 2, False, 2),  # the cluster's loadray refused the scenario: no run directory
    (None, 99, False, 99),  # thresholds failed, the run directory did not come: still 99
    (None, 0, False, 1),  # passed, but the run directory did not come
    (None, None, False, 1),  # the job ended without loadray's code (not installed, killed)
    (130, None, False, 130),
    (143, 143, True, 143),
    (130, 0, True, 130),
])
def test_the_exit_code_is_loadrays_own_unless_the_job_was_stopped_or_lost(stopped, loadray, fetched, want):
    assert exit_code(stopped, loadray, fetched) == want
