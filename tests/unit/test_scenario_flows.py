"""Flows, steps, feeders, the closed model and the new http settings: the YAML grammar
parsed into the frozen model, and every mistake as one line naming its YAML path."""

from __future__ import annotations

from dataclasses import replace

import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_scenario_errors import DELETE, MINIMAL, edited

from loadray.errors import ScenarioError
from loadray.flow import (
    NO_RETRY,
    FeederSpec,
    RetryPolicy,
    compile_checks,
    compile_extractor,
    compile_json,
    compile_template,
)
from loadray.engine.modes import prepared_requests
from loadray.scenario import (
    Body,
    Feed,
    Flow,
    Phase,
    Step,
    Think,
    TlsSettings,
    load_scenario,
    parse_scenario,
)

CHECKOUT_YAML = """\
name: checkout
target: builtin
workers: 2
seed: 7
load:
  phases: [{duration: 10s, rate: 20}]
http:
  headers: {Accept: application/json}
  tls: {verify: true, ca: certs/ca.pem, cert: certs/client.pem, key: certs/client.key}
  redirects: 5
  compression: true
retry: {max_attempts: 3, backoff: {base: 100ms, cap: 1s, jitter: full}, on_status: [503],
        on_errors: [timeout]}
feeders:
  - {name: users, file: data/users.csv, mode: unique, when_exhausted: stop_run}
flows:
  - name: checkout
    weight: 3
    steps:
      - name: login
        method: post
        path: /login
        query: {page: "{{ random_int(1, 5) }}", v: 2}
        headers: {X-User: "{{ users.user }}"}
        json: {user: "{{ users.user }}", password: "{{ users.password }}"}
        timeout: 2s
        extract:
          - {name: token, source: json, expr: token}
        check: {status: [200], body_contains: "token", json: {expr: user, equals: "alice"}}
      - name: order
        method: POST
        path: /orders
        headers: {Authorization: "Bearer {{ token }}"}
        form: {item: "42", qty: 2, gift: false}
        extract: {name: order_id, source: json, expr: id}
        retry: null
        on_failure: continue
      - path: "/orders/{{ order.order_id }}?by={{ login.token }}"
        retry: {max_attempts: 1}
  - name: static
    steps:
      - {method: PUT, path: "https://127.0.0.1:8443/up/{{ uuid }}", body: "w={{ worker }}"}
"""

CLOSED_YAML = """\
target: http://127.0.0.1:8080
trace: false
load:
  model: closed
  phases:
    - {duration: 10s, users: 10}
    - {duration: 20s, users: 10, to: 50}
    - {users: 50, step: -10, every: 5s, times: 3}
  think: {uniform: [50ms, 150ms]}
requests:
  - {name: home, path: /}
  - {name: search, path: "/search?q=x", query: {page: 2}, json: {a: [1, true]}, weight: 2}
  - {name: item, path: "/items/{{ random_int(1, 9) }}", check: {status: 2xx}}
"""

USERS_CSV = "user,password\nalice,pw1\nbob,pw2\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A scenario folder with the checkout scenario's data and certificate files."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "users.csv").write_text(USERS_CSV)
    (tmp_path / "data" / "empty.csv").write_text("user,password\n")
    (tmp_path / "certs").mkdir()
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / "certs" / name).write_text("-----BEGIN-----\n")
    (tmp_path / "checkout.yaml").write_text(CHECKOUT_YAML)
    return tmp_path


def checkout(changes: dict[str, Any], folder: Path):
    return parse_scenario(edited(changes, yaml.safe_load(CHECKOUT_YAML)), base_dir=folder)


def t(text: str):
    return compile_template(text, "")


def test_checkout_scenario_parses_into_the_model(folder):
    scn = load_scenario(folder / "checkout.yaml")
    default_retry = RetryPolicy(3, 0.1, 1.0, "full", frozenset({503}), frozenset({"timeout"}))
    assert (scn.name, scn.model, scn.seed, scn.trace, scn.think) == (
        "checkout", "open", 7, True, Think()
    )
    assert scn.http.headers == (("Accept", "application/json"),)
    assert scn.http.tls == TlsSettings(
        verify=True,
        ca_file=str(folder / "certs" / "ca.pem"),
        cert_file=str(folder / "certs" / "client.pem"),
        key_file=str(folder / "certs" / "client.key"),
    )
    assert (scn.http.redirects, scn.http.compression) == (5, True)
    assert scn.feeds == (
        Feed(
            FeederSpec("users", str(folder / "data" / "users.csv"), "unique", "stop_run"),
            ({"user": "alice", "password": "pw1"}, {"user": "bob", "password": "pw2"}),
        ),
    )
    login = Step(
        name="login",
        path=t("/login"),
        method="POST",
        query=(("page", t("{{ random_int(1, 5) }}")), ("v", t("2"))),
        headers=(("X-User", t("{{ users.user }}")),),
        body=Body("json", compile_json(
            {"user": "{{ users.user }}", "password": "{{ users.password }}"}, ""
        )),
        timeout_s=2.0,
        extract=(compile_extractor({"name": "token", "source": "json", "expr": "token"}, ""),),
        checks=compile_checks(
            {"status": [200], "body_contains": "token", "json": {"expr": "user", "equals": "alice"}},
            "",
        ),
        retry=default_retry,
    )
    order = Step(
        name="order",
        path=t("/orders"),
        method="POST",
        headers=(("Authorization", t("Bearer {{ token }}")),),
        body=Body("form", compile_json({"item": "42", "qty": "2", "gift": "false"}, "")),
        extract=(compile_extractor({"name": "order_id", "source": "json", "expr": "id"}, ""),),
        retry=NO_RETRY,
        stop_on_failure=False,
    )
    show = Step(
        name="GET /orders/{{ order.order_id }}?by={{ login.token }}",
        path=t("/orders/{{ order.order_id }}?by={{ login.token }}"),
        retry=NO_RETRY,
    )
    upload = Step(
        name="PUT https://127.0.0.1:8443/up/{{ uuid }}",
        path=t("https://127.0.0.1:8443/up/{{ uuid }}"),
        method="PUT",
        body=Body("raw", t("w={{ worker }}")),
        retry=default_retry,
    )
    assert scn.flows == (Flow("checkout", (login, order, show), 3.0), Flow("static", (upload,)))
    assert not scn.simple


def test_scenario_with_flows_pickles_for_the_workers(folder):
    scn = load_scenario(folder / "checkout.yaml")
    assert pickle.loads(pickle.dumps(scn)) == scn


def test_closed_scenario_parses_into_the_model():
    scn = parse_scenario(yaml.safe_load(CLOSED_YAML))
    assert (scn.model, scn.trace) == ("closed", False)
    assert scn.phases == (
        Phase(10.0, 10.0, None, 0),
        Phase(20.0, 10.0, 50.0, 1),
        Phase(5.0, 50.0, None, 2), Phase(5.0, 40.0, None, 2), Phase(5.0, 30.0, None, 2),
    )
    assert scn.think == Think("uniform", 0.05, 0.15)
    # Static entries render to fixed requests (query appended, JSON encoded and typed).
    assert [(r.name, r.method, r.url, r.headers, r.body) for r in prepared_requests(replace(scn, flows=scn.flows[:2]))] == [
        ("home", "GET", "http://127.0.0.1:8080/", (), None),
        ("search", "GET", "http://127.0.0.1:8080/search?q=x&page=2", (("Content-Type", "application/json"),), b'{"a":[1,true]}'),
    ]
    assert [(f.name, f.weight, len(f.steps)) for f in scn.flows] == [
        ("home", 1.0, 1), ("search", 2.0, 1), ("item", 1.0, 1),
    ]
    item = scn.flows[2].steps[0]
    assert item.path == t("/items/{{ random_int(1, 9) }}") and not item.static
    assert item.checks == compile_checks({"status": "2xx"}, "")
    assert not scn.simple  # the closed model


def test_source_round_trips_with_the_same_folder(folder):
    scn = load_scenario(folder / "checkout.yaml", ["flows.0.weight=5"])
    assert scn.flows[0].weight == 5.0
    assert scn.source["feeders"][0]["file"] == "data/users.csv"  # as written
    assert parse_scenario(scn.source, base_dir=folder) == scn
    with pytest.raises(ScenarioError) as info:  # elsewhere, the relative files are missing
        parse_scenario(scn.source, base_dir=folder / "data")
    assert info.value.path == "http.tls.ca"


def test_set_overrides_reach_the_new_keys(folder):
    path = folder / "closed.yaml"
    path.write_text(CLOSED_YAML)
    scn = load_scenario(path, [
        "load.phases.0.users=20", "load.think=250ms", "requests.1.weight=4", "trace=true",
        "requests.0.on_failure=continue",
    ])
    assert scn.phases[0] == Phase(10.0, 20.0, None, 0)
    assert (scn.think, scn.trace, scn.flows[1].weight) == (Think("constant", 0.25), True, 4.0)
    assert not scn.flows[0].steps[0].stop_on_failure
    with pytest.raises(ScenarioError, match=r"^load\.phases\[0\]\.users: must be >= 1, got 0$"):
        load_scenario(path, ["load.phases.0.users=0"])


def test_plain_requests_scenario_is_one_static_flow_per_request():
    scn = parse_scenario(MINIMAL)
    assert scn.simple
    assert scn.flows == (Flow("root", (Step("root", t("/")),)),)
    assert (scn.http.tls, scn.http.redirects, scn.http.compression) == (TlsSettings(), 0, False)


def test_scenario_retry_applies_to_requests_unless_overridden():
    doc = edited({"retry": {"max_attempts": 2}, "requests": [{"path": "/"}, {"path": "/b", "retry": None}]})
    scn = parse_scenario(doc)
    assert [f.steps[0].retry.max_attempts for f in scn.flows] == [2, 1]
    assert not scn.flows[0].steps[0].static and scn.flows[1].steps[0].static


FEEDER = {"name": "users", "file": "data/users.csv"}
CLOSED = {"load.model": "closed", "load.phases": [{"duration": "1s", "users": 1}]}

BAD = [
    # (changes to CHECKOUT_YAML, path, fragments of the message)
    ({"flows.0.steps.1.headers": {"Authorization": "Bearer {{ tokn }}"}},
     "flows[0].steps[1].headers.Authorization",
     ["unknown variable 'tokn' (known here: token, login.token, users.user, users.password, "]),
    ({"flows.0.steps.2.path": "/orders/{{ ordr.order_id }}"}, "flows[0].steps[2].path",
     ["'ordr.order_id' refers to step 'ordr', which is not an earlier step of flow 'checkout'"]),
    ({"flows.0.steps.0.headers": {"X-User": "{{ order.order_id }}"}},
     "flows[0].steps[0].headers.X-User",
     ["'order.order_id' refers to step 'order', which is not an earlier step of flow 'checkout'"]),
    ({"flows.0.steps.0.json": {"o": "{{ order_id }}"}}, "flows[0].steps[0].json.o",
     ["unknown variable 'order_id'", "step 'order' extracts it, but does not run before this one"]),
    ({"flows.0.steps.0.json": {"items": [{"id": 1}, {"id": "{{ nope }}"}]}},
     "flows[0].steps[0].json.items[1].id", ["unknown variable 'nope'"]),
    ({"flows.0.steps.0.query.page": "{{ token }}"}, "flows[0].steps[0].query.page",
     ["unknown variable 'token'"]),
    ({"flows.0.steps.1.form.item": "{{ users.usr }}"}, "flows[0].steps[1].form.item",
     ["feeder 'users' has no column 'usr' (columns: user, password)"]),
    ({"flows.0.steps.2.path": "/o/{{ login.id }}"}, "flows[0].steps[2].path",
     ["step 'login' extracts no 'id' (it extracts: token)"]),
    ({"flows.1.steps.0.body": "{{ token }}"}, "flows[1].steps[0].body",
     ["unknown variable 'token'"]),  # extracted in another flow
    ({"flows.0.steps.0.extract.0.expr": "foo["}, "flows[0].steps[0].extract[0]",
     ["bad JMESPath 'foo[': incomplete expression"]),
    ({"flows.0.steps.1.extract.expr": "a..b"}, "flows[0].steps[1].extract", ["bad JMESPath"]),
    ({"flows.0.steps.0.check.json.expr": "a..b"}, "flows[0].steps[0].check.json.expr",
     ["bad JMESPath 'a..b'"]),
    ({"flows.0.steps.0.extract.0.name": "uuid"}, "flows[0].steps[0].extract[0].name",
     ["'uuid' is a built-in variable"]),
    ({"flows.0.steps.0.body": "x"}, "flows[0].steps[0]",
     ["has json and body: a step sends at most one of json, form, body"]),
    ({"flows.0.steps.1.json": {}}, "flows[0].steps[1]", ["has json and form"]),
    ({"flows.0.steps.1.form": {"a": {"b": 1}}}, "flows[0].steps[1].form.a",
     ["must be a string, number or boolean, got a mapping"]),
    ({"flows.0.steps.0.path": "login"}, "flows[0].steps[0].path",
     ["must start with '/' or be an absolute http(s):// URL, got 'login'"]),
    ({"flows.0.steps.0.path": "HTTP://h/"}, "flows[0].steps[0].path", ["got 'HTTP://h/'"]),
    ({"flows.0.steps.0.path": "/a b/{{ x }}"}, "flows[0].steps[0].path",
     ["must not contain spaces"]),
    ({"flows.0.steps.0.path": "/{{ x"}, "flows[0].steps[0].path", ["unclosed '{{'"]),
    ({"flows.0.steps.0.on_failure": "retry"}, "flows[0].steps[0].on_failure",
     ["must be one of: stop, continue, got 'retry'"]),
    ({"flows.0.steps.0.timeout": "0s"}, "flows[0].steps[0].timeout", ["must be > 0"]),
    ({"flows.0.steps.0.retry": {"max_attempts": 0}}, "flows[0].steps[0].retry.max_attempts",
     ["must be >= 1, got 0"]),
    ({"flows.0.steps.0.wait": "1s"}, "flows[0].steps[0]", ["unknown key 'wait'"]),
    ({"flows.0.steps.1.name": "login"}, "flows[0].steps[1].name",
     ["duplicate step name 'login' (also flows[0].steps[0])"]),
    ({"flows.1.name": "checkout"}, "flows[1].name",
     ["duplicate flow name 'checkout' (also flows[0])"]),
    ({"flows.1.name": DELETE}, "flows[1].name", ["is required"]),
    ({"flows.0.weight": -1}, "flows[0].weight", ["must be > 0, got -1"]),
    ({"flows.0.weight": 0}, "flows[0].weight", ["must be > 0, got 0"]),
    ({"flows.0.steps": []}, "flows[0].steps", ["must not be empty (add at least one step)"]),
    ({"flows": []}, "flows", ["must not be empty (add at least one flow)"]),
    ({"requests": [{"path": "/"}]}, "(root)", ["has both 'requests' and 'flows'"]),
    ({"flows": DELETE}, "requests", ["is required (or 'flows'"]),
    ({"feeders.0.file": "data/nope.csv"}, "feeders[0].file", ["no such file: ", "data/nope.csv"]),
    ({"feeders.0.file": "data/empty.csv"}, "feeders[0].file",
     ["feeder file has no rows (", "empty.csv)"]),
    ({"feeders.0.file": "data"}, "feeders[0].file", ["not a file: "]),
    ({"feeders.0.name": "login"}, "flows[0].steps[0].name",
     ["step 'login' has the name of a feeder"]),
    ({"feeders": [FEEDER, FEEDER]}, "feeders[1].name",
     ["duplicate feeder name 'users' (also feeders[0])"]),
    ({"feeders.0.name": "my-users"}, "feeders[0].name", ["must be a plain name"]),
    ({"feeders.0.mode": "shuffle"}, "feeders[0].mode", ["must be one of: sequential"]),
    ({"feeders": {"name": "users"}}, "feeders", ["must be a list"]),
    ({"http.tls.ca": "certs/missing.pem"}, "http.tls.ca", ["no such file: ", "certs/missing.pem"]),
    ({"http.tls.cert": DELETE}, "http.tls.key", ["needs 'cert'"]),
    ({"http.tls.verify": "no"}, "http.tls.verify", ["must be true or false"]),
    ({"http.tls.insecure": True}, "http.tls", ["unknown key 'insecure'"]),
    ({"http.redirects": -1}, "http.redirects", ["must be >= 0, got -1"]),
    ({"http.compression": "gzip"}, "http.compression", ["must be true or false"]),
    ({"trace": "w3c"}, "trace", ["must be true or false"]),
    ({"retry.max_attempts": "many"}, "retry.max_attempts", ["must be an integer"]),
    ({"load.phases.0": {"duration": "10s", "users": 5}}, "load.phases[0].users",
     ["closed model", "set load.model: closed"]),
    ({"load.think": "1s"}, "load.think", ["only valid with load.model: closed"]),
    ({"load.model": "closed"}, "load.phases[0].rate", ["open model", "'users'"]),
    ({**CLOSED, "load.phases.0.users": 2.5}, "load.phases[0].users",
     ["must be an integer, got 2.5"]),
    ({**CLOSED, "load.phases.0.users": 0}, "load.phases[0].users", ["must be >= 1, got 0"]),
    ({**CLOSED, "load.phases.0": {"duration": "1s", "users": 0, "to": 0}}, "load.phases[0].to",
     ["from 0 to 0"]),
    ({**CLOSED, "load.phases.0": {"users": 5, "step": -5, "every": "1s", "times": 2}},
     "load.phases[0].step", ["level 1 would be 0 users"]),
    ({**CLOSED, "load.phases.0": {"users": 5, "step": 1.5, "every": "1s", "times": 2}},
     "load.phases[0].step", ["must be an integer"]),
    ({**CLOSED, "load.think": {"uniform": ["2s", "1s"]}}, "load.think.uniform[1]",
     ["must be >= the low bound ('2s')"]),
    ({**CLOSED, "load.think": {"uniform": "1s"}}, "load.think.uniform",
     ["must be a list [low, high]"]),
    ({**CLOSED, "load.think": {"uniform": ["1s", "2s"], "exponential": "1s"}}, "load.think",
     ["exactly one of: uniform, exponential"]),
    ({**CLOSED, "load.think": {"exponential": 0}}, "load.think.exponential", ["must be > 0"]),
    ({**CLOSED, "load.think": {"normal": "1s"}}, "load.think", ["unknown key 'normal'"]),
    ({**CLOSED, "load.think": "-1s"}, "load.think", ["expected a duration"]),
    ({"transport": "fast"}, "transport",
     ["'fast' cannot read feeders (feeders); use transport: auto or aiohttp"]),
]


@pytest.mark.parametrize(("changes", "path", "fragments"), BAD, ids=[str(c[0]) for c in BAD])
def test_bad_flow_scenario_names_path_and_problem(folder, changes, path, fragments):
    with pytest.raises(ScenarioError) as info:
        checkout(changes, folder)
    assert info.value.path == path, str(info.value)
    for fragment in fragments:
        assert fragment in info.value.message
    assert "\n" not in str(info.value)


def test_unknown_variable_lists_a_bounded_number_of_known_names(folder):
    extract = [{"name": f"v{i}", "source": "header", "expr": "x"} for i in range(20)]
    with pytest.raises(ScenarioError) as info:
        checkout({"flows.0.steps.0.extract": extract, "flows.0.steps.1.path": "/{{ w }}"}, folder)
    assert info.value.message.startswith("unknown variable 'w' (known here: v0, login.v0, v1, ")
    assert info.value.message.endswith(", ...)")


def two_steps(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"requests": DELETE, "flows": [{"name": "f", "steps": list(steps)}]}


FAST = [
    # (changes to MINIMAL, the reason fast cannot send it)
    ({}, None),
    ({"requests.0.json": {"a": 1}, "requests.0.query": {"b": "c"}, "requests.0.weight": 3}, None),
    ({"http.compression": True, "trace": True}, None),
    ({"requests.0.timeout": "1s"}, "apply a per-step timeout (step 'root')"),
    (two_steps({"path": "/"}, {"path": "/b"}), "run multi-step flows (flow 'f')"),
    (two_steps({"path": "/"}), None),
    ({"requests.0.path": "/{{ uuid }}"}, "render templates (step 'root')"),
    ({"requests.0.headers": {"X-Id": "{{ worker }}"}}, "render templates (step 'root')"),
    ({"requests.0.check": {"status": 200}}, "run checks (step 'root')"),
    ({"requests.0.extract": {"name": "a", "source": "header", "expr": "X-A"}},
     "extract variables (step 'root')"),
    ({"retry": {"max_attempts": 2}}, "retry (step 'root')"),
    ({"http.redirects": 3}, "follow redirects (http.redirects)"),
    ({"load.model": "closed", "load.phases": [{"duration": 1, "users": 1}]},
     "run the closed model (load.model: closed)"),
]


@pytest.mark.parametrize(("changes", "reason"), FAST, ids=[str(c[0]) for c in FAST])
def test_fast_transport_refuses_what_it_cannot_send(changes, reason):
    doc = edited({**changes, "transport": "fast"})
    if reason is None:
        assert parse_scenario(doc).transport == "fast"
        assert parse_scenario(edited(changes)).simple
        return
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc)
    assert str(info.value) == f"transport: 'fast' cannot {reason}; use transport: auto or aiohttp"
    parse_scenario(edited({**changes, "transport": "aiohttp"}))  # fine elsewhere


def test_fast_transport_refuses_a_tls_client_certificate(tmp_path):
    (tmp_path / "me.pem").write_text("pem")
    doc = edited({"transport": "fast", "http.tls": {"cert": "me.pem"}})
    with pytest.raises(ScenarioError, match=r"^transport: 'fast' cannot present a TLS client"):
        parse_scenario(doc, base_dir=tmp_path)


def test_unique_request_names_still_checked_with_new_keys():
    doc = edited({"requests": [{"path": "/", "weight": 2}, {"path": "/", "json": {"a": 1}}]})
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc)
    assert str(info.value) == "requests[1].name: duplicate request name 'GET /' (also requests[0])"
