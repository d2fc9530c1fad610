"""``loadray control``'s endpoint and client (issue 10, item 4): a bad rate gets a clear
answer (endpoint: 400 with the reason, client: exit 2 and one line) and never reaches
the run; the endpoint never drops a connection."""

from __future__ import annotations

import http.client
import json
import math
from pathlib import Path

import pytest

from loadray.cli.main import main
from loadray.errors import LoadrayError, UsageError
from loadray.live.command import Command
from loadray.live.control import CONTROL_FILE, ControlServer, RateBounds, check_rate, send
from loadray.scenario import parse_scenario
from test_scenario_errors import edited


class Run:
    """Stands in for the coordinator: records what reaches it."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[Command] = []
        self.fail = fail

    def handle(self, command: Command) -> str:
        self.calls.append(command)
        if self.fail:
            raise TimeoutError("coordinator did not answer\nin 10 s")
        return f"{command.kind} from t=1.00s"


@pytest.fixture
def served(tmp_path):
    servers = []

    def start(bounds: RateBounds = RateBounds(max_rate=1000.0), fail: bool = False):
        run = Run(fail)
        server = ControlServer(tmp_path, run.handle, bounds)
        server.start()
        servers.append(server)
        return run, server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """One server for the table below (stopping one takes half a second)."""
    run = Run()
    server = ControlServer(tmp_path_factory.mktemp("run"), run.handle, RateBounds(max_rate=1000.0))
    server.start()
    yield run, server
    server.stop()


def post(server: ControlServer, body: bytes, token: str | None = None, length: str | None = None):
    info = json.loads((server.run_dir / CONTROL_FILE).read_text())
    host, port = info["url"].split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    headers = {"X-Loadray-Token": token or server.token, "Content-Length": length or str(len(body))}
    conn.request("POST", "/control", body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read().decode()


ENDPOINT = [
    # (request body, expected status, answer)
    (b'{"command": "rate", "rate": Infinity}', 400, "rate: must be a finite number, got inf"),
    (b'{"command": "rate", "rate": NaN}', 400, "rate: must be a finite number, got nan"),
    (b'{"command": "rate", "rate": -5}', 400, "rate: must be >= 0, got -5"),
    (b'{"command": "rate", "rate": null}', 400, "rate: must be a number, got None"),
    (b'{"command": "rate", "rate": "abc"}', 400, "rate: must be a number, got 'abc'"),
    (b'{"command": "rate", "rate": true}', 400, "rate: must be a number, got True"),
    (b'{"command": "rate", "rate": 1e12}', 400,
     "rate: must be <= 1000 req/s (the scenario's limits.max_rate), got 1000000000000"),
    (b'{"command": "rate", "rate": ' + b"9" * 400 + b"}", 400, "rate: must be a finite number, got "),
    (b'{"command": "rate"}', 400, "rate: must be a number, got None"),
    (b'{"command": "pause", "rate": 5}', 400, "rate: only the 'rate' command takes one, not 'pause'"),
    (b'{"command": "boom"}', 400, "unknown command 'boom' (expected one of: rate, pause, resume, stop)"),
    (b"[1, 2]", 400, 'expected a JSON object {"command": ..., "rate": ...}'),
    (b"not json", 400, 'expected a JSON object {"command": ..., "rate": ...}'),
    (b"[" * 60_000, 400, 'expected a JSON object {"command": ..., "rate": ...}'),
    (b'{"command": "rate", "rate": 600}', 200, "rate from t=1.00s"),
    (b'{"command": "rate", "rate": 0}', 200, "rate from t=1.00s"),
    (b'{"command": "stop"}', 200, "stop from t=1.00s"),
]


@pytest.mark.parametrize(("body", "status", "answer"), ENDPOINT, ids=[b[:40].decode() for b, _, _ in ENDPOINT])
def test_the_endpoint_answers_every_command(endpoint, body, status, answer):
    run, server = endpoint
    run.calls.clear()
    got_status, got = post(server, body)
    assert got_status == status and got.startswith(answer), got  # whole answers but one (the 400 digits)
    assert "\n" not in got
    assert len(run.calls) == (1 if status == 200 else 0)  # a bad command never reaches the run


def test_the_endpoint_checks_the_closed_models_users(served):
    run, server = served(RateBounds(max_rate=50.0, users=True))
    assert post(server, b'{"command": "rate", "rate": 2.5}') == (
        400, "rate: must be a whole number of users (closed model), got 2.5")
    assert post(server, b'{"command": "rate", "rate": 51}') == (
        400, "rate: must be <= 50 users (the scenario's limits.max_users), got 51")
    assert post(server, b'{"command": "rate", "rate": 20}')[0] == 200
    assert run.calls == [Command("rate", 20.0)]


def test_the_endpoint_refuses_a_bad_token_and_a_bad_length(served):
    run, server = served()
    assert post(server, b'{"command": "stop"}', token="nope") == (403, "bad token")
    assert post(server, b'{"command": "stop"}', length="-1") == (400, "expected a JSON body of at most 65536 bytes")
    assert post(server, b'{"command": "stop"}', length="99999999") == (
        400, "expected a JSON body of at most 65536 bytes")
    assert run.calls == []


def test_a_run_that_cannot_act_answers_500_in_one_line(served, tmp_path):
    run, server = served(fail=True)
    assert post(server, b'{"command": "stop"}') == (
        500, "the run could not stop: TimeoutError: coordinator did not answer in 10 s")
    with pytest.raises(LoadrayError) as info:
        send(tmp_path, "stop")
    assert type(info.value) is LoadrayError  # exit 1: not the user's mistake
    assert str(info.value) == f"{tmp_path}: the run could not stop: TimeoutError: coordinator did not answer in 10 s"


def test_the_client_checks_the_runs_bounds_before_sending(served, tmp_path):
    run, server = served(RateBounds(max_rate=1000.0))
    with pytest.raises(UsageError) as info:
        send(tmp_path, "rate", 5000.0)
    assert str(info.value) == "--rate: must be <= 1000 req/s (the scenario's limits.max_rate), got 5000"
    assert send(tmp_path, "rate", 600.0) == "rate from t=1.00s"
    assert run.calls == [Command("rate", 600.0)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("inf", "argument --rate: must be a finite number, got inf"),
        ("nan", "argument --rate: must be a finite number, got nan"),
        ("-5", "argument --rate: must be >= 0, got -5"),
        ("abc", "argument --rate: must be a number, got 'abc'"),
        ("1e400", "argument --rate: must be a finite number, got inf"),
    ],
)
def test_the_cli_refuses_a_bad_rate_in_one_line(tmp_path, capsys, value, message):
    with pytest.raises(SystemExit) as info:
        main(["control", str(tmp_path), "--rate", value])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err == f"loadray control: error: {message}\n"


def test_rate_bounds_follow_the_scenario():
    open_ = parse_scenario(edited({}), ["limits.max_rate=5000"])
    closed = parse_scenario(edited({"load": {"model": "closed", "phases": [{"duration": "1s", "users": 2}]}}))
    assert RateBounds.of(open_) == RateBounds(5000.0, users=False)
    assert RateBounds.of(closed) == RateBounds(100_000.0, users=True)
    assert check_rate(5000, RateBounds.of(open_)) == 5000.0
    assert math.isclose(check_rate(0.5, RateBounds.of(open_)), 0.5)


def test_the_bounds_travel_in_control_json(served, tmp_path):
    served(RateBounds(max_rate=42.0, users=True))
    info = json.loads((Path(tmp_path) / CONTROL_FILE).read_text())
    assert info["bounds"] == {"max_rate": 42.0, "users": True}


@pytest.mark.parametrize("command", [Command("rate", 250.0), Command("pause"), Command("resume"), Command("stop")])
def test_a_command_goes_through_its_wire_form_unchanged(command: Command) -> None:
    assert Command.parse(json.loads(json.dumps(command.to_json())), float) == command
