"""Every bad scenario gives one ScenarioError line naming the exact YAML path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from loadray.errors import ScenarioError
from loadray.scenario import parse_scenario

MINIMAL: dict[str, Any] = {
    "name": "smoke",
    "target": "http://127.0.0.1:8080",
    "workers": 2,
    "load": {
        "model": "open",
        "phases": [{"duration": "10s", "rate": 500}, {"duration": "20s", "rate": 500, "to": 2000}],
    },
    "requests": [{"name": "root", "method": "GET", "path": "/"}],
    "thresholds": ["p99 < 1s", "error_rate < 0.5%"],
}
class _Delete:
    """A changed value meaning: delete the key (its repr keeps test ids stable)."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()


def edited(changes: dict[str, Any], base: dict[str, Any] = MINIMAL) -> dict[str, Any]:
    """``base`` with each ``dotted.path`` set to a value (or deleted)."""
    doc = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        key = int(last) if isinstance(node, list) else last
        if value is DELETE:
            del node[key]
        else:
            node[key] = copy.deepcopy(value)
    return doc


STEPS = {"rate": 100, "step": 50, "every": "10s", "times": 4}

BAD = [
    # (changes, path, message fragment)
    ({"load.phazes": []}, "load", "unknown key 'phazes' (expected one of: model, phases, think)"),
    ({"wrokers": 2}, "(root)", "unknown key 'wrokers' (expected one of: name, target,"),
    ({"load.phases.0.rte": 5}, "load.phases[0]", "unknown key 'rte'"),
    ({"requests.0.heders": {}}, "requests[0]", "unknown key 'heders'"),
    ({"http.time_out": "5s"}, "http", "unknown key 'time_out'"),
    ({"cluster.cpus": 1}, "cluster", "unknown key 'cpus' (expected one of: worker_cpus, lease)"),
    ({"target": {"builtin": {"latncy": "5ms"}}}, "target.builtin", "unknown key 'latncy'"),
    ({"workers": "two"}, "workers", "must be an integer, got 'two'"),
    ({"workers": True}, "workers", "must be an integer, got true"),
    ({"workers": 2.5}, "workers", "must be an integer, got 2.5"),
    ({"workers": 0}, "workers", "must be >= 1, got 0"),
    ({"workers": 5000}, "workers", "must be <= 1024, got 5000"),
    ({"seed": -1}, "seed", "must be >= 0, got -1"),
    ({"load.phases.1.rate": -5}, "load.phases[1].rate", "must be >= 0, got -5"),
    ({"load.phases.0.rate": 0}, "load.phases[0].rate", "must be > 0, got 0"),
    ({"load.phases.0.rate": -5}, "load.phases[0].rate", "must be > 0, got -5"),
    ({"load.phases.0.rate": "fast"}, "load.phases[0].rate", "must be a number, got 'fast'"),
    ({"load.phases.0.rate": float("nan")}, "load.phases[0].rate", "must be a finite number"),
    ({"load.phases.1.to": -1}, "load.phases[1].to", "must be >= 0, got -1"),
    ({"load.phases.1.rate": 0, "load.phases.1.to": 0}, "load.phases[1].to", "from 0 to 0"),
    ({"load.phases.0.rate": DELETE}, "load.phases[0].rate", "is required"),
    ({"load.phases.0.duration": DELETE}, "load.phases[0].duration", "is required"),
    ({"load.phases.0.duration": "ten seconds"}, "load.phases[0].duration",
     "expected a duration like 250ms, 10s or 2m, got 'ten seconds'"),
    ({"load.phases.0.duration": "0s"}, "load.phases[0].duration", "must be > 0, got '0s'"),
    ({"load.phases": []}, "load.phases", "must not be empty (add at least one phase)"),
    ({"load.phases": DELETE}, "load.phases", "is required"),
    ({"load.phases": {"rate": 1}}, "load.phases", "must be a list, got a mapping"),
    ({"load.phases.0": "10s"}, "load.phases[0]", "must be a mapping, got '10s'"),
    ({"load": DELETE}, "load", "is required"),
    ({"load.model": "shut"}, "load.model", "must be one of: open, closed, got 'shut'"),
    ({"load.phases.1": {**STEPS, "to": 5}}, "load.phases[1]", "cannot also have 'to'"),
    ({"load.phases.1": {**STEPS, "duration": "5s"}}, "load.phases[1]",
     "cannot also have 'duration'"),
    ({"load.phases.1": {"rate": 100, "step": 50, "times": 4}}, "load.phases[1].every",
     "is required in a steps phase"),
    ({"load.phases.1": {**STEPS, "times": 0}}, "load.phases[1].times", "must be >= 1, got 0"),
    ({"load.phases.1": {**STEPS, "step": -40}}, "load.phases[1].step",
     "level 3 would be -20 req/s"),
    ({"load.phases.1": {**STEPS, "every": "0ms"}}, "load.phases[1].every", "must be > 0"),
    ({"target": "ftp://x"}, "target", "must be an http:// or https:// URL"),
    ({"target": "127.0.0.1:80"}, "target", "did you mean 'http://127.0.0.1:80'?"),
    ({"target": "http://"}, "target", "(no host)"),
    ({"target": "http://127.0.0.1:99999"}, "target", "(bad port)"),
    ({"target": "http://127.0.0.1/?q=1"}, "target", "without ?query"),
    ({"target": 8080}, "target", "must be a URL, 'builtin' or {builtin: {...}}, got 8080"),
    ({"target": DELETE}, "target", "is required"),
    ({"target": {"builtin": {"error_rate": "150%"}}}, "target.builtin.error_rate",
     "must be between 0% and 100%, got '150%'"),
    ({"target": {"builtin": {"latency": "-5ms"}}}, "target.builtin.latency",
     "expected a duration"),
    ({"target": {"builtin": {"port": 70000}}}, "target.builtin.port", "must be <= 65535"),
    ({"transport": "quic"}, "transport", "must be one of: auto, fast, aiohttp, got 'quic'"),
    ({"http.when_full": "block"}, "http.when_full", "must be one of: queue, drop, got 'block'"),
    ({"http.max_in_flight": 0}, "http.max_in_flight", "must be >= 1, got 0"),
    ({"http.timeout": 0}, "http.timeout", "must be > 0, got 0"),
    ({"http.connect_timeout": "soon"}, "http.connect_timeout", "expected a duration"),
    ({"http.keepalive": "yes please"}, "http.keepalive", "must be true or false"),
    ({"http.headers": ["X-A: b"]}, "http.headers", "must be a mapping of header names"),
    ({"http.headers": {"X-Num": 5}}, "http.headers.X-Num", "must be a string, got 5 (quote it)"),
    ({"http.headers": {"Bad Name": "x"}}, "http.headers.Bad Name", "not a valid header name"),
    ({"http.headers": {"X-A": "a\r\nX-B: b"}}, "http.headers.X-A", "line breaks"),
    ({"requests": []}, "requests", "must not be empty (add at least one request)"),
    ({"requests": DELETE}, "requests", "is required"),
    ({"requests": [{"name": "a", "path": "/"}, {"name": "a", "path": "/x"}]}, "requests[1].name",
     "duplicate request name 'a' (also requests[0])"),
    ({"requests": [{"path": "/"}, {"method": "get", "path": "/"}]}, "requests[1].name",
     "duplicate request name 'GET /'"),
    ({"requests.0.method": "FETCH"}, "requests[0].method",
     "must be one of: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, got 'FETCH'"),
    ({"requests.0.path": "api/v1"}, "requests[0].path", "must start with '/' or be an absolute http(s):// URL, got 'api/v1'"),
    ({"requests.0.path": "/a b"}, "requests[0].path", "must not contain spaces"),
    ({"requests.0.name": ""}, "requests[0].name", "must not be empty"),
    ({"requests.0.body": {"a": 1}}, "requests[0].body", "must be a string, got a mapping"),
    ({"thresholds": ["p99 = 1s"]}, "thresholds[0]", "expected '<metric> <op> <value>'"),
    ({"thresholds": ["p99 < 1s", "latency < 1s"]}, "thresholds[1]", "unknown metric 'latency'"),
    ({"thresholds": "p99 < 1s"}, "thresholds", "must be a list of strings"),
    ({"thresholds": [5]}, "thresholds[0]",
     "must be a string like 'p99 < 500ms' or a mapping like {threshold: "),
    ({"thresholds": [{"threshold": "p99 < 1s", "abort": True}]}, "thresholds[0]",
     "unknown key 'abort' (expected one of: threshold, step, abort_on_fail, delay)"),
    ({"thresholds": [{"abort_on_fail": True}]}, "thresholds[0].threshold", "is required"),
    ({"thresholds": [{"threshold": 5}]}, "thresholds[0].threshold",
     "must be a string like 'p99 < 500ms', got 5"),
    ({"thresholds": ["p99 < 1s", {"threshold": "p99 = 1s"}]}, "thresholds[1].threshold",
     "expected '<metric> <op> <value>'"),
    ({"thresholds": [{"threshold": "p99 < 1s", "abort_on_fail": "yes"}]},
     "thresholds[0].abort_on_fail", "must be true or false, got 'yes'"),
    ({"thresholds": [{"threshold": "p99 < 1s", "delay": -5}]}, "thresholds[0].delay",
     "must be >= 0, got -5"),
    ({"thresholds": [{"threshold": "p99 < 1s", "delay": "soon"}]}, "thresholds[0].delay",
     "expected a duration like 250ms, 10s or 2m, got 'soon'"),
    ({"abort_when": "error_rate > 50%"}, "abort_when",
     "expected '<metric> <op> <value> for <duration>'"),
    ({"abort_when": "error_rate > 50%"}, "abort_when", "(the 'for <duration>' part is required)"),
    ({"abort_when": ["p99 > 2s for 10s", "p99 > 2s for 0s"]}, "abort_when[1]",
     "for: must be a duration > 0, got '0s'"),
    ({"abort_when": ["p99 > 2s for soon"]}, "abort_when[0]", "for: expected a duration"),
    ({"abort_when": ["p99 > 2 for 5s"]}, "abort_when[0]", "p99: '2' needs a unit"),
    ({"abort_when": ["latency > 1s for 5s"]}, "abort_when[0]", "unknown metric 'latency'"),
    ({"abort_when": ["error_rate > 150% for 5s"]}, "abort_when[0]",
     "error_rate: expected a value between 0% and 100%"),
    ({"abort_when": [5]}, "abort_when[0]", "must be a string like 'error_rate > 50% for 5s'"),
    ({"abort_when": {"error_rate": "50%"}}, "abort_when",
     "must be a string or a list of strings like 'error_rate > 50% for 5s', got a mapping"),
    ({"on_worker_loss": "ignore"}, "on_worker_loss",
     "must be one of: redistribute, restart, abort, got 'ignore'"),
    ({"alerts.webhok": "http://127.0.0.1/x"}, "alerts", "unknown key 'webhok' (expected one of: webhook)"),
    ({"alerts": "http://127.0.0.1/hook"}, "alerts", "must be a mapping, got 'http://127.0.0.1/hook'"),
    ({"alerts.webhook": "ftp://127.0.0.1/x"}, "alerts.webhook",
     "must be an http:// or https:// URL with a host, got 'ftp://127.0.0.1/x'"),
    ({"alerts.webhook": "127.0.0.1:9000/hook"}, "alerts.webhook",
     "did you mean 'http://127.0.0.1:9000/hook'?"),
    ({"alerts.webhook": "http:///hook"}, "alerts.webhook", "(no host)"),
    ({"alerts.webhook": "http://127.0.0.1:99999/x"}, "alerts.webhook", "(bad port)"),
    ({"alerts.webhook": 9000}, "alerts.webhook", "must be a string, got 9000"),
    ({"live.window": "0s"}, "live.window", "must be > 0, got '0s'"),
    ({"live.window": "soon"}, "live.window", "expected a duration"),
    ({"live.windw": "5s"}, "live", "unknown key 'windw' (expected one of: window)"),
    ({"cluster.worker_cpus": 0}, "cluster.worker_cpus", "must be > 0, got 0"),
    ({"cluster.lease": "100ms"}, "cluster.lease", "must be between 0.5s and 60s, got 0.1s"),
    ({"cluster.lease": "2m"}, "cluster.lease", "must be between 0.5s and 60s, got 120s"),
    ({"name": ""}, "name", "must not be empty"),
    ({"name": "a/b"}, "name", "must not contain slashes"),
]


@pytest.mark.parametrize(("changes", "path", "fragment"), BAD, ids=[str(c[0]) for c in BAD])
def test_bad_scenario_names_path_and_problem(changes, path, fragment):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(edited(changes))
    assert info.value.path == path
    assert fragment in info.value.message
    assert str(info.value) == f"{path}: {info.value.message}"
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("doc", [["a"], "text", None, 5])
def test_document_must_be_a_mapping(doc):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc)
    assert str(info.value).startswith("(root): must be a mapping, got ")


def test_minimal_document_is_valid():
    assert parse_scenario(edited({})).name == "smoke"
