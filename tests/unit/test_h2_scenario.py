"""HTTP/2 in a scenario: what ``http.version`` / ``http.connections`` / a step's
``http: {version: 2}`` make of it, and bad HTTP/2 definitions: each one line naming the
YAML path, ``loadray validate`` exit 2."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from loadray.cli.main import main
from loadray.scenario import load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
BASE = {
    "name": "h2", "target": "http://127.0.0.1:8080",
    "load": {"phases": [{"duration": "1s", "rate": 10}]},
    "requests": [{"name": "root", "path": "/"}],
}


def doc(**changes):
    return {**BASE, **changes}


def test_http_version_2_sends_every_step_on_http2_off_the_fast_path():
    scn = parse_scenario(doc(http={"version": 2, "connections": 3}))
    assert scn.http.version == 2 and scn.http.connections == 3
    assert [s.http_version for f in scn.flows for s in f.steps] == [2]
    assert not scn.simple  # HTTP/2 runs on the flow path (the fast path speaks HTTP/1.1)
    assert parse_scenario(doc()).simple


def test_a_step_may_choose_its_version_either_way():
    steps = [{"name": "a", "path": "/"}, {"name": "b", "path": "/", "http": {"version": "HTTP/1.1"}},
             {"name": "c", "path": "/", "http": {"version": 2}}]
    flows = {key: value for key, value in doc(http={"version": "2"}).items() if key != "requests"}
    scn = parse_scenario({**flows, "flows": [{"name": "f", "steps": steps}]})
    assert [s.http_version for s in scn.flows[0].steps] == [2, 1, 2]


def test_the_http2_scenario_file_loads():
    scn = load_scenario(SCENARIOS / "http2.yaml")
    assert scn.http.version == 2 and scn.http.connections >= 1 and not scn.simple


BAD = [
    ({"http": {"version": 3}}, "http.version: must be 1 or 2 (HTTP/1.1 or HTTP/2), got 3"),
    ({"http": {"version": "two"}}, "http.version: must be 1 or 2 (HTTP/1.1 or HTTP/2), got 'two'"),
    ({"http": {"version": 2, "connections": 0}}, "http.connections: must be"),
    ({"http": {"version": 2, "connections": 1001}}, "http.connections: must be"),
    ({"http": {"connections": 4}}, "http.connections: is for HTTP/2 only; set http.version: 2"),
    ({"http": {"version": 2}, "transport": "fast"}, "transport:"),
    ({"http": {"version": 2}, "transport": "aiohttp"}, "transport: 'aiohttp' speaks HTTP/1.1 only"),
    ({"http": {"version": True}}, "http.version: must be 1 or 2 (HTTP/1.1 or HTTP/2), got True"),
    ({"http": {"version": 2, "headers": {"Connection": "close"}}}, "http.headers.Connection: Connection is a "
                                                                    "connection-specific header"),
    ({"requests": [{"name": "r", "path": "/", "http": {"version": 2}, "headers": {"Upgrade": "h2c"}}]},
     "requests[0].headers.Upgrade: Upgrade is a connection-specific header"),
    ({"requests": [{"name": "r", "path": "/", "http": {"version": 2, "connections": 2}}]},
     "requests[0].http: unknown key 'connections' (expected one of: version)"),
    ({"requests": [{"name": "r", "path": "/", "http": {"version": 1.5}}]}, "requests[0].http.version: must be 1 or 2"),
    ({"requests": [{"name": "r", "path": "/", "http": "2"}]}, "requests[0].http: must be a mapping"),
]


@pytest.mark.parametrize(("changes", "message"), BAD, ids=[str(c) for c, _ in BAD])
def test_bad_http2_definitions_are_one_line_naming_the_path_exit_2(tmp_path, changes, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc(**changes)))
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as exit_:
        main(["validate", str(path)])
    assert exit_.value.code == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]
    assert lines[0].startswith("loadray validate: error: ") and message in lines[0], lines[0]
