"""The redaction policy, one table per kind of field, and a planted scenario end to end
through validation (the archived document, the step names, the check names)."""

from __future__ import annotations

import copy

import pytest

from loadray.flow.checks import compile_checks
from loadray.redaction import MASK, is_secret_name, redact, redact_body, redact_error, redact_text
from loadray.scenario import parse_scenario
from planted_secrets import MARKER, NUMBER, flows_scenario, leaks, requests_scenario


@pytest.mark.parametrize("name", [
    "Authorization", "proxy-authorization", "X-Custom-Auth", "Cookie", "Set-Cookie", "X-Token",
    "csrf_token", "access_token", "password", "passwd", "PASS", "db_pwd", "client_secret",
    "X-Api-Key", "api_key", "apiKey", "APIKEY", "AWS_ACCESS_KEY", "private_key", "sessionid",
    "session_id", "credentials", "X-Amz-Signature", "jwt", "key", "X-Key", "sig", "pin", "otp",
    "data.token", "items[0].password",
])
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", [
    "Accept", "User-Agent", "X-Trace", "name", "path", "page", "user", "id", "monkey", "keys_count",
    "timeout", "items[0].id", "status", 5, None,
])
def test_names_that_are_not_secret(name):
    assert not is_secret_name(name)


@pytest.mark.parametrize(("text", "expected"), [
    # query parameters in paths and URLs
    ("/login?token=abc&page=1", "/login?token=***&page=1"),
    ("/login?page=1&api_key=k#top", "/login?page=1&api_key=***#top"),
    ("/x;jsessionid=ABC?q=1", "/x;jsessionid=***?q=1"),
    ("/x?Signature=s%2F1&X-Amz-Credential=c",
     "/x?Signature=***&X-Amz-Credential=***"),
    ("/search?key=AIza&q=cats", "/search?key=***&q=cats"),
    # URL userinfo: the user too (tokens are often sent as the user name)
    ("http://user:hunter2@127.0.0.1:80/x", "http://***@127.0.0.1:80/x"),
    ("https://ghp_tok@127.0.0.1/x?access_token=t", "https://***@127.0.0.1/x?access_token=***"),
    ("GET http://admin:pw@127.0.0.1:8/form?access_token=t", "GET http://***@127.0.0.1:8/form?access_token=***"),
    # templates stay
    ("/login?token={{ tok }}", "/login?token={{ tok }}"),
    ("http://{{ u }}:{{ p }}@127.0.0.1/", "http://{{ u }}:{{ p }}@127.0.0.1/"),
    ("/x?token=sk-{{ n }}", "/x?token=***{{ n }}"),
    # key=value text, a JMESPath comparison
    ("user=a&password=hunter2", "user=a&password=***"),
    ("items[?token=='abc']", "items[?token=***]"),
    # nothing to hide
    ("/orders/{{ id }}?page=2&sort=asc", "/orders/{{ id }}?page=2&sort=asc"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://127.0.0.1/a@b", "http://127.0.0.1/a@b"),
    ("p99 < 1s", "p99 < 1s"),
    ("error_rate <= 1%", "error_rate <= 1%"),
    ("/x?token=", "/x?token="),
    ("", ""),
])
def test_redact_text(text, expected):
    assert redact_text(text) == expected
    assert redact_text(expected) == expected  # idempotent


@pytest.mark.parametrize(("body", "expected"), [
    ('{"user": "a", "password": "hunter2"}', MASK),
    ('{"user": {"profile": {"api_key": "k"}}}', MASK),
    ('{"pin": 1234}', MASK),
    ('{"tokens": ["a", "b"]}', MASK),
    ("user=a&passwd=hunter2", MASK),
    ("password: hunter2\nuser: a", MASK),
    ("client_secret = s3", MASK),
    ('{"password": "{{ users.pw }}", "user": "a"}', '{"password": "{{ users.pw }}", "user": "a"}'),
    ("password={{ pw }}&user=a", "password={{ pw }}&user=a"),
    ('{"user": "a", "n": 3}', '{"user": "a", "n": 3}'),
    ("hello", "hello"),
    ("see http://u:p@127.0.0.1/", "see http://***@127.0.0.1/"),
])
def test_redact_body_masks_the_whole_body_when_a_secret_field_has_a_literal(body, expected):
    assert redact_body(body) == expected
    assert redact({"body": body}) == {"body": expected}


@pytest.mark.parametrize(("value", "expected"), [
    ("hunter2", MASK),
    (12345, MASK),
    (1.5, MASK),
    (True, MASK),
    (["a", "b"], MASK),
    ({"a": {"b": "c"}}, MASK),
    ([{"x": 1}], MASK),
    ("Bearer abc", MASK),
    ("Bearer {{ token }}", "Bearer {{ token }}"),
    ("{{ users.password }}", "{{ users.password }}"),
    ("sk-{{ n }}", "***{{ n }}"),
    (["{{ a }}", "{{ b }}"], ["{{ a }}", "{{ b }}"]),
    (["{{ a }}", "literal"], MASK),
    (None, None),
    ("", ""),
])
def test_any_value_under_a_secret_name(value, expected):
    for key in ("password", "X-Custom-Auth", "api_key", "secret"):
        assert redact({key: value}) == {key: expected}
        assert redact({"deep": [{"x": {key: value}}]}) == {"deep": [{"x": {key: expected}}]}


def test_json_check_on_a_secret_masks_its_expected_value():
    doc = {"check": {"json": [{"expr": "data.token", "equals": "t-1"}, {"expr": "id", "equals": 3},
                              {"expr": "session", "equals": {"a": 1}}]}}
    assert redact(doc)["check"]["json"] == [{"expr": "data.token", "equals": MASK},
                                            {"expr": "id", "equals": 3},
                                            {"expr": "session", "equals": MASK}]


@pytest.mark.parametrize(("doc", "expected"), [
    ({"note": "a hunter2 here"}, {"note": f"a {MASK} here"}),
    ({"port": 4242}, {"port": MASK}),
    ({"hunter2": 1}, {MASK: 1}),
    ({"x": "ab", "y": "cabd"}, {"x": MASK, "y": "cabd"}),  # short: whole values only
    ({"x": "hunter2xyz"}, {"x": MASK}),  # the longer secret first
])
def test_given_literal_secrets_are_masked_wherever_they_appear(doc, expected):
    assert redact(doc, secrets=["hunter2", "4242", "ab", "hunter2xyz"]) == expected


@pytest.mark.parametrize(("path", "message", "expected"), [
    ("http.headers.Authorization", "must be a string, got 12345 (quote it)", "must be a string, got ***"),
    ("flows[0].steps[0].query.api_key", "must be a string, number or boolean, got a mapping",
     "must be a string, number or boolean, got ***"),
    ("target", "must be a base URL without ?query or #fragment, got 'http://u:pw@127.0.0.1/?token=t'",
     "must be a base URL without ?query or #fragment, got 'http://***@127.0.0.1/?token=***'"),
    ("load.phases[0].rate", "must be > 0, got -5", "must be > 0, got -5"),
    ("--set http.headers.Authorization", "invalid value '[abc': flow sequence", "invalid value ***: flow sequence"),
    ("--set http.headers.X-Auth.x", "http.headers.X-Auth is 'Bearer abc', not a mapping or list; cannot set 'x' in it",
     "http.headers.X-Auth is ***, not a mapping or list; cannot set 'x' in it"),
    ("flows[0].steps[1].headers.Authorization", "unknown variable 'tokn' (known here: token, now)",
     "unknown variable 'tokn' (known here: token, now)"),
    ("requests[0].name", "duplicate request name 'GET /a?token=***' (also requests[1])",
     "duplicate request name 'GET /a?token=***' (also requests[1])"),
])
def test_redact_error_lines(path, message, expected):
    assert redact_error(f"{path}: {message}", path) == f"{path}: {expected}"


def test_redact_copies_and_tolerates_any_shape():
    doc = {"http": {"headers": {"Authorization": "Bearer abc"}}, "requests": ["x", None, 5, [1]]}
    before = copy.deepcopy(doc)
    assert redact(doc) == {"http": {"headers": {"Authorization": MASK}}, "requests": ["x", None, 5, [1]]}
    assert doc == before
    for shape in (None, [], "x", 5, {"http": None}, {"flows": [5]}, {"alerts": {"webhook": 5}}):
        assert redact(shape) == shape


@pytest.mark.parametrize("make", [
    lambda: flows_scenario("http://127.0.0.1:9", "users.csv"),
    lambda: requests_scenario("http://127.0.0.1:9"),
])
def test_planted_scenario_validates_and_nothing_derived_from_it_holds_the_marker(make, tmp_path):
    (tmp_path / "users.csv").write_text(f"password\n{MARKER}x\n")
    doc = make()
    assert leaks(repr(doc)) == [MARKER, str(NUMBER)]
    scenario = parse_scenario(doc, base_dir=tmp_path)
    archived = redact(scenario.source)
    assert leaks(repr(archived)) == []
    assert redact(archived) == archived
    steps = [s for f in scenario.flows for s in f.steps]
    names = [scenario.name] + [f.name for f in scenario.flows] + [s.name for s in steps]
    assert leaks(repr(names)) == []
    assert any("token=***" in name for name in names)  # default names come from the paths
    checks = [c.name for s in steps for c in s.checks]
    assert leaks(repr(checks)) == []


def test_check_names_hide_secret_expectations():
    checks = compile_checks({"body_contains": "password=hunter2", "json": [
        {"expr": "token", "equals": "hunter2"}, {"expr": "id", "equals": "a?api_key=k"},
        {"expr": "n", "equals": 5}]}, "check")
    assert [c.name for c in checks] == [
        "body contains '***'", "json token == ***", 'json id == "a?api_key=***"', "json n == 5"]
