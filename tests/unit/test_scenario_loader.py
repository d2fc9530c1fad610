"""Loading scenario files: the DESIGN.md minimal form, every field, file-level errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loadray.errors import ScenarioError
from loadray.flow import compile_template
from loadray.metric import Rule
from loadray.scenario import (
    Breaker,
    ClusterSettings,
    HttpSettings,
    Phase,
    Scenario,
    Target,
    Threshold,
    load_scenario,
    parse_scenario,
)
from loadray.engine.modes import prepared_requests
from loadray.scenario.model import Flow, Step
from loadray.target.options import TargetOptions

MINIMAL_YAML = """\
name: smoke
target: http://127.0.0.1:8080
workers: 2
load:
  model: open              # open = arrival rate; closed = users
  phases:
    - {duration: 10s, rate: 500}             # cluster-wide requests/s
    - {duration: 20s, rate: 500, to: 2000}   # linear ramp
requests:
  - {name: root, method: GET, path: /}
thresholds: ["p99 < 1s", "error_rate < 0.5%"]
"""

FULL_YAML = """\
target: {builtin: {port: 0, latency: 20ms, jitter: 5ms, error_rate: 1%, stall_every: 5s,
                   stall_for: 500ms, seed: 7}}
workers: 4
transport: aiohttp
seed: 3
load:
  phases:
    - {duration: 1m, rate: 50.5}
    - {rate: 100, step: 50, every: 10s, times: 4}
http:
  connect_timeout: 2s
  timeout: 1500ms
  max_in_flight: 64
  keepalive: false
  when_full: drop
  headers: {X-Token: abc}
requests:
  - {path: /}
  - {name: post, method: post, path: "/items?x=1", headers: {Accept: text/plain}, body: "héllo"}
thresholds:
  - "p99.9 <= 250ms"
  - "service_max < 2s"
  - "rate >= 400/s"
  - "dropped <= 0"
  - {threshold: "error_rate < 1%", abort_on_fail: true, delay: 5s}
  - {threshold: "p99 < 2s", abort_on_fail: false}
cluster:
  worker_cpus: 0.5
abort_when: ["error_rate > 50% for 5s", "p99 > 2s for 1m"]
on_worker_loss: restart
alerts: {webhook: "http://127.0.0.1:9000/hook?x=1"}
live: {window: 2500ms}
"""


def write(tmp_path: Path, text: str, name: str = "scn.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_design_scenario_loads_to_expected_objects(tmp_path):
    scn = load_scenario(write(tmp_path, MINIMAL_YAML))
    assert scn == Scenario(
        name="smoke",
        target=Target(url="http://127.0.0.1:8080"),
        phases=(Phase(10.0, 500.0, None, 0), Phase(20.0, 500.0, 2000.0, 1)),
        workers=2,
        thresholds=(
            Threshold("p99 < 1s", Rule.of("p99", "<", 1000.0)),
            Threshold("error_rate < 0.5%", Rule.of("error_rate", "<", 0.005)),
        ),
        flows=(Flow("root", (Step("root", compile_template("/", "")),)),),
    )
    assert scn.simple and scn.trace
    assert scn.duration_s == 30.0
    assert scn.http == HttpSettings()
    assert scn.cluster == ClusterSettings()
    assert not any(t.abort_on_fail or t.delay_s for t in scn.thresholds)
    assert (scn.breakers, scn.on_worker_loss, scn.alert_webhook, scn.live_window_s) == (
        (), "redistribute", None, 10.0
    )


def test_every_field_is_read(tmp_path):
    scn = load_scenario(write(tmp_path, FULL_YAML, "full.yaml"))
    assert scn.name == "full"  # the file stem
    assert scn.target == Target(builtin=TargetOptions(
        port=0, latency_s=0.02, jitter_s=0.005, error_rate=0.01,
        stall_every_s=5.0, stall_for_s=0.5, seed=7,
    ))
    assert (scn.workers, scn.transport, scn.seed, scn.model) == (4, "aiohttp", 3, "open")
    assert scn.phases == (
        Phase(60.0, 50.5, None, 0),
        Phase(10.0, 100.0, None, 1),
        Phase(10.0, 150.0, None, 1),
        Phase(10.0, 200.0, None, 1),
        Phase(10.0, 250.0, None, 1),
    )
    assert scn.http == HttpSettings(
        connect_timeout_s=2.0, timeout_s=1.5, max_in_flight=64, keepalive=False,
        when_full="drop", headers=(("X-Token", "abc"),),
    )
    assert [
        (r.name, r.method, r.url, r.headers, r.body) for r in prepared_requests(scn)
    ] == [
        ("GET /", "GET", "/", (("X-Token", "abc"),), None),  # builtin: the URL comes at run time
        ("post", "POST", "/items?x=1",
         (("X-Token", "abc"), ("Accept", "text/plain")), "héllo".encode()),
    ]
    assert [(t.rule.metric.name, t.rule.op, t.rule.value) for t in scn.thresholds] == [
        ("p99.9", "<=", 250.0), ("service_max", "<", 2000.0), ("rate", ">=", 400.0),
        ("dropped", "<=", 0.0), ("error_rate", "<", 0.01), ("p99", "<", 2000.0),
    ]
    assert [(t.abort_on_fail, t.delay_s) for t in scn.thresholds] == [
        (False, 0.0), (False, 0.0), (False, 0.0), (False, 0.0), (True, 5.0), (False, 0.0),
    ]
    assert scn.thresholds[4] == Threshold(
        "error_rate < 1%", Rule.of("error_rate", "<", 0.01), abort_on_fail=True, delay_s=5.0
    )
    assert scn.cluster == ClusterSettings(worker_cpus=0.5)
    assert scn.breakers == (
        Breaker("error_rate > 50% for 5s", Rule.of("error_rate", ">", 0.5), for_s=5.0),
        Breaker("p99 > 2s for 1m", Rule.of("p99", ">", 2000.0), for_s=60.0),
    )
    assert scn.on_worker_loss == "restart"
    assert scn.alert_webhook == "http://127.0.0.1:9000/hook?x=1"
    assert scn.live_window_s == 2.5


@pytest.mark.parametrize("target", ["builtin", {"builtin": None}, {"builtin": {}}])
def test_builtin_target_alone_uses_default_options(target):
    doc = yaml.safe_load(MINIMAL_YAML)
    doc["target"] = target
    assert parse_scenario(doc).target == Target(builtin=TargetOptions())


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://example.test/", "https://example.test"),
        ("http://[::1]:80/api/", "http://[::1]:80/api"),
    ],
)
def test_target_url_is_kept_without_trailing_slash(url, stored):
    doc = yaml.safe_load(MINIMAL_YAML)
    doc["target"] = url
    assert parse_scenario(doc).target == Target(url=stored)


@pytest.mark.parametrize("text", [MINIMAL_YAML, FULL_YAML])
def test_source_round_trips_to_equal_scenario(tmp_path, text):
    scn = load_scenario(write(tmp_path, text, "named.yaml"), ["workers=8"])
    assert scn.source["name"] == scn.name
    assert scn.source["workers"] == 8
    assert parse_scenario(scn.source) == scn
    # ... also through YAML text, as the archive stores it.
    archived = write(tmp_path, yaml.safe_dump(scn.source, sort_keys=False), "scenario.yaml")
    assert load_scenario(archived) == scn


def test_overrides_apply_before_validation(tmp_path):
    path = write(tmp_path, MINIMAL_YAML)
    scn = load_scenario(path, ["load.phases.0.rate=800", "http.timeout=2s", "name=other"])
    assert scn.phases[0] == Phase(10.0, 800.0, None, 0)
    assert scn.http.timeout_s == 2.0
    assert scn.name == "other"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, ["load.phases.0.rate=-1"])
    assert str(info.value) == "load.phases[0].rate: must be > 0, got -1"


def test_parse_scenario_does_not_mutate_its_input():
    doc = yaml.safe_load(MINIMAL_YAML)
    before = yaml.safe_dump(doc)
    parse_scenario(doc, ["load.phases.0.rate=1", "http.timeout=1s"])
    assert yaml.safe_dump(doc) == before


def test_name_defaults_to_default_name():
    doc = yaml.safe_load(MINIMAL_YAML)
    del doc["name"]
    assert parse_scenario(doc).name == "scenario"
    assert parse_scenario(doc, default_name="nightly").name == "nightly"


@pytest.mark.parametrize(
    "section", ["http", "thresholds", "cluster", "abort_when", "alerts", "live"]
)
def test_empty_optional_sections_take_defaults(section):
    doc = yaml.safe_load(MINIMAL_YAML)
    doc[section] = None
    scn = parse_scenario(doc)
    assert (scn.http, scn.cluster) == (HttpSettings(), ClusterSettings())
    assert (scn.breakers, scn.alert_webhook, scn.live_window_s) == ((), None, 10.0)


def test_abort_when_may_be_one_string():
    doc = yaml.safe_load(MINIMAL_YAML)
    doc["abort_when"] = "p99 >= 1.5s for 10s"
    assert parse_scenario(doc).breakers == (
        Breaker("p99 >= 1.5s for 10s", Rule.of("p99", ">=", 1500.0), 10.0),
    )
    doc["abort_when"] = []
    assert parse_scenario(doc).breakers == ()


@pytest.mark.parametrize("policy", ["redistribute", "restart", "abort"])
def test_on_worker_loss_policies(policy):
    doc = yaml.safe_load(MINIMAL_YAML)
    doc["on_worker_loss"] = policy
    assert parse_scenario(doc).on_worker_loss == policy


@pytest.mark.parametrize(
    ("alerts", "webhook"),
    [
        ({"webhook": "https://hooks.example.test/T1/B2"}, "https://hooks.example.test/T1/B2"),
        ({"webhook": " http://[::1]:9000/hook "}, "http://[::1]:9000/hook"),
        ({"webhook": None}, None),
        ({}, None),
    ],
)
def test_alert_webhook(alerts, webhook):
    doc = yaml.safe_load(MINIMAL_YAML)
    doc["alerts"] = alerts
    assert parse_scenario(doc).alert_webhook == webhook


def test_live_control_keys_take_overrides(tmp_path):
    path = write(tmp_path, MINIMAL_YAML + "alerts: {webhook: http://127.0.0.1:9000/hook}\n")
    scn = load_scenario(path, [
        "on_worker_loss=abort", "live.window=3s", "abort_when=error_rate > 10% for 2s",
        "thresholds.1={threshold: error_rate < 0.5%, abort_on_fail: true}",
    ])
    assert (scn.on_worker_loss, scn.live_window_s) == ("abort", 3.0)
    assert scn.breakers == (Breaker("error_rate > 10% for 2s", Rule.of("error_rate", ">", 0.1), 2.0),)
    assert scn.thresholds[1].abort_on_fail and scn.thresholds[1].delay_s == 0.0
    assert scn.alert_webhook == "http://127.0.0.1:9000/hook"
    assert load_scenario(path, ["alerts.webhook=null"]).alert_webhook is None
    assert parse_scenario(scn.source) == scn


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("name: x\nload:\n  phases: [\n    {rate: 1\n", ":5:1", "invalid YAML: "),
        ("a: 1\n  b: 2\n", ":2:4", "invalid YAML: mapping values are not allowed"),
        ("workers: 1\nworkers: 2\n", ":2:1", "invalid YAML: duplicate key 'workers'"),
        ("x: *nope\n", ":1:4", "invalid YAML: found undefined alias 'nope'"),
        ("x: !!python/object:os.system {}\n", ":1:4", "invalid YAML: could not determine"),
        ("x: '\x07'\n", ":1:5", "invalid YAML: unacceptable character #x0007"),
    ],
)
def test_bad_yaml_names_file_line_and_column(tmp_path, text, where, fragment):
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.path == f"{path}{where}"
    assert info.value.message.startswith(fragment)
    assert "\n" not in str(info.value)


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    text = MINIMAL_YAML + "http:\n  <<: {timeout: 3s, keepalive: false}\n  timeout: 4s\n"
    scn = load_scenario(write(tmp_path, text))
    assert (scn.http.timeout_s, scn.http.keepalive) == (4.0, False)


def test_file_errors(tmp_path):
    cases = [
        (tmp_path / "missing.yaml", "no such file"),
        (tmp_path, "is a directory, not a scenario file"),
        (write(tmp_path, "", "empty.yaml"), None),
    ]
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"name: caf\xe9\n")
    cases.append((latin1, "not UTF-8 text (bad byte at offset 9)"))
    for path, message in cases:
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
        if message is None:
            assert str(info.value) == "(root): must be a mapping, got null"
        else:
            assert str(info.value) == f"{path}: {message}"


def test_list_document_is_rejected(tmp_path):
    with pytest.raises(ScenarioError, match=r"^\(root\): must be a mapping, got a list$"):
        load_scenario(write(tmp_path, "- 1\n- 2\n"))
