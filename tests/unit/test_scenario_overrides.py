"""--set overrides on the raw document."""

from __future__ import annotations

import pytest

from loadray.errors import ScenarioError
from loadray.scenario import apply_overrides


def base() -> dict:
    return {
        "target": "http://127.0.0.1:8080",
        "workers": 2,
        "load": {"phases": [{"duration": "10s", "rate": 500}, {"duration": "20s", "rate": 1}]},
        "requests": [{"path": "/"}],
    }


@pytest.mark.parametrize(
    ("override", "keys", "value"),
    [
        ("load.phases.0.rate=800", ("load", "phases", 0, "rate"), 800),
        ("load.phases.1.duration=1m", ("load", "phases", 1, "duration"), "1m"),
        ("workers=4", ("workers",), 4),
        ("http.keepalive=false", ("http",), {"keepalive": False}),
        ("http.headers.X-A=b=c", ("http", "headers"), {"X-A": "b=c"}),
        ("target=builtin", ("target",), "builtin"),
        ("target={builtin: {latency: 5ms}}", ("target",), {"builtin": {"latency": "5ms"}}),
        ("requests.0.path=/x", ("requests",), [{"path": "/x"}]),
        ("thresholds=[p99 < 1s]", ("thresholds",), ["p99 < 1s"]),
        ("load.phases.0=null", ("load", "phases", 0), None),
        ("name=", ("name",), None),
        ("new_key=1.5", ("new_key",), 1.5),
    ],
)
def test_apply_override(override, keys, value):
    node = apply_overrides(base(), [override])
    for key in keys:
        node = node[key]
    assert node == value


def test_overrides_apply_in_order_and_leave_input_alone():
    doc = base()
    result = apply_overrides(doc, ["workers=3", "workers=5", "load.phases.0.rate=1"])
    assert (result["workers"], result["load"]["phases"][0]["rate"]) == (5, 1)
    assert doc == base()


def test_override_creates_missing_and_null_sections():
    doc = {**base(), "http": None}
    assert apply_overrides(doc, ["http.timeout=2s"])["http"] == {"timeout": "2s"}
    assert apply_overrides(base(), ["cluster.worker_cpus=0.5"])["cluster"] == {"worker_cpus": 0.5}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("load.phases.9.rate=5", "--set load.phases.9.rate: load.phases has no item 9 (it has 2)"),
        ("load.phases.x.rate=5",
         "--set load.phases.x.rate: load.phases is a list; expected an item number, got 'x'"),
        ("load.phases.-1.rate=5", "--set load.phases.-1.rate: load.phases is a list; "
         "expected an item number, got '-1'"),
        ("workers.max=5", "--set workers.max: workers is 2, not a mapping or list; "
         "cannot set 'max' in it"),
        ("target.builtin.port=1", "--set target.builtin.port: target is 'http://127.0.0.1:8080', "
         "not a mapping or list; cannot set 'builtin' in it"),
        ("workers", "--set workers: expected key=value, e.g. load.phases.0.rate=800"),
        ("load..rate=1", "--set load..rate: expected a dotted key like http.timeout"),
        ("=1", "--set : expected a dotted key like http.timeout"),
        ("workers=[1", "--set workers: invalid value '[1': "),  # then libyaml's or PyYAML's words
    ],
)
def test_bad_override_names_the_flag(override, expected):
    with pytest.raises(ScenarioError) as info:
        apply_overrides(base(), [override])
    assert str(info.value).startswith(expected)
    assert str(info.value) == expected or expected.endswith(": ")
