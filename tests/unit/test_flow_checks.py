"""Checks: the first failing expectation names the row's ``check`` error."""

from __future__ import annotations

import pytest

from loadray.errors import ScenarioError
from loadray.flow import Response, compile_checks, evaluate
from loadray.flow.checks import same

OK = Response(200, body=b'{"items": [{"id": 5, "ok": true}], "n": 1.0}')

EVALUATE = [
    (None, OK, None),
    ({}, OK, None),
    ({"status": 200}, OK, None),
    ({"status": [200, 201]}, Response(201), None),
    ({"status": "2xx"}, Response(204), None),
    ({"status": [301, "2xx"]}, Response(301), None),
    ({"status": 200}, Response(503), "status in [200]"),
    ({"status": [200, "3xx"]}, Response(404), "status in [200, 3xx]"),
    ({"status": "2xx"}, Response(0), "status in [2xx]"),
    ({"body_contains": "items"}, OK, None),
    ({"body_contains": "nope"}, OK, "body contains 'nope'"),
    ({"body_contains": "é"}, Response(200, body="café".encode()), None),
    ({"json": {"expr": "items[0].id", "equals": 5}}, OK, None),
    ({"json": {"expr": "items[0].id", "equals": 6}}, OK, "json items[0].id == 6"),
    ({"json": {"expr": "n", "equals": 1}}, OK, None),
    ({"json": {"expr": "items[0].ok", "equals": True}}, OK, None),
    ({"json": {"expr": "n", "equals": True}}, OK, "json n == true"),
    ({"json": {"expr": "missing", "equals": None}}, OK, None),
    ({"json": {"expr": "items[0]", "equals": {"id": 5, "ok": 1}}}, OK, 'json items[0] == {"id": 5, "ok": 1}'),
    ({"json": {"expr": "a", "equals": 1}}, Response(200, body=b"<html>"), "json a == 1"),
    ({"json": [{"expr": "n", "equals": 1}, {"expr": "items[0].id", "equals": "5"}]}, OK,
     'json items[0].id == "5"'),
    ({"status": 201, "body_contains": "nope"}, OK, "status in [201]"),
    ({"json": {"expr": "n", "equals": 2}, "body_contains": "nope", "status": 200}, OK, "body contains 'nope'"),
]


@pytest.mark.parametrize(("spec", "response", "failed"), EVALUATE)
def test_evaluate_returns_first_failed_check(spec: object, response: Response, failed: str | None) -> None:
    assert evaluate(compile_checks(spec, "flow[0].check"), response) == failed


def test_checks_are_ordered_status_body_json() -> None:
    checks = compile_checks({"json": {"expr": "a", "equals": 1}, "body_contains": "x", "status": 200}, "p")
    assert [check.name for check in checks] == ["status in [200]", "body contains 'x'", "json a == 1"]


SAME = [
    (1, 1.0, True),
    (True, 1, False),
    (0, False, False),
    ([1, True], [1, True], True),
    ([1, 1], [1, True], False),
    ({"a": 1}, {"a": 1, "b": 2}, False),
    ({"a": [False]}, {"a": [0]}, False),
    (None, None, True),
    ("5", 5, False),
]


@pytest.mark.parametrize(("actual", "expected", "result"), SAME)
def test_json_equality_keeps_booleans_apart(actual: object, expected: object, result: bool) -> None:
    assert same(actual, expected) is result


BAD = [
    ({"status": 700}, "flow[0].check.status: must be a status code (100-599) or a class like 2xx, got 700"),
    ({"status": [200, "2XX"]}, "flow[0].check.status[1]: must be a status code (100-599) or a class like 2xx, got '2XX'"),
    ({"status": True}, "flow[0].check.status: must be a status code (100-599) or a class like 2xx, got True"),
    ({"status": []}, "flow[0].check.status: must not be empty"),
    ({"body_contains": ""}, "flow[0].check.body_contains: must not be empty"),
    ({"json": {"expr": "a"}}, "flow[0].check.json.equals: is required"),
    ({"json": [{"expr": "a", "equals": 1}, {"expr": "a[", "equals": 1}]},
     "flow[0].check.json[1].expr: bad JMESPath 'a[': incomplete expression"),
    ({"json": {"expr": "a", "equals": 1, "op": "<"}},
     "flow[0].check.json: unknown key 'op' (expected one of: expr, equals)"),
    ({"statuses": [200]}, "flow[0].check: unknown key 'statuses' (expected one of: status, body_contains, json)"),
    ([200], "flow[0].check: must be a mapping, got a list"),
]


@pytest.mark.parametrize(("spec", "message"), BAD)
def test_bad_checks_name_the_yaml_path(spec: object, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        compile_checks(spec, "flow[0].check")
    assert str(caught.value) == message


# -- checks that cannot be evaluated, bodies cut at max_body, JSON-only expectations --------

import datetime  # noqa: E402

from loadray.flow.checks import CheckError, json_value  # noqa: E402


def test_a_check_that_raises_is_a_check_error_naming_the_check() -> None:
    checks = compile_checks({"status": 200, "json": {"expr": "abs(value)", "equals": 1}}, "c")
    with pytest.raises(CheckError) as caught:
        evaluate(checks, Response(200, body=b'{"value": "x"}'))
    assert caught.value.name == "json abs(value) == 1"
    assert type(caught.value.cause).__name__ == "JMESPathTypeError"
    # a check that fails first wins: the raising one is never reached
    assert evaluate(checks, Response(500, body=b'{"value": "x"}')) == "status in [200]"


@pytest.mark.parametrize(
    ("spec", "body", "outcome"),
    [
        ({"body_contains": "abc"}, b"xxabc", None),  # found in the kept part: passes
        ({"body_contains": "zzz"}, b"xxabc", "over"),  # maybe in the rest: cannot tell
        ({"json": {"expr": "a", "equals": 1}}, b'{"a": 1', "over"),  # JSON needs the whole body
        ({"status": 200}, b"", None),  # the status needs no body
    ],
)
def test_checks_on_a_body_cut_at_max_body(spec: object, body: bytes, outcome: str | None) -> None:
    response = Response(200, body=body, truncated=True)
    if outcome is None:
        assert evaluate(compile_checks(spec, "c"), response) is None
        return
    with pytest.raises(CheckError) as caught:
        evaluate(compile_checks(spec, "c"), response)
    assert str(caught.value.cause) == f"body over max_body ({len(body)} bytes kept)"


@pytest.mark.parametrize(
    ("equals", "message"),
    [
        (datetime.date(2024, 1, 1),
         "c.json.equals: must be a JSON value, got a YAML date (2024-01-01); quote it: '2024-01-01'"),
        ({"when": [1, datetime.datetime(2024, 1, 1, 10, 0)]},
         "c.json.equals.when[1]: must be a JSON value, got a YAML datetime (2024-01-01T10:00:00); "
         "quote it: '2024-01-01T10:00:00'"),
        (b"\x00", "c.json.equals: must be a JSON value, got a YAML bytes (b'\\x00'); quote it: 'b'\\x00''"),
        (float("nan"), "c.json.equals: must be a finite number, got nan"),
        ({1: "a"}, "c.json.equals: keys must be strings (quote 1)"),
    ],
)
def test_equals_takes_json_values_only(equals: object, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        compile_checks({"json": {"expr": "a", "equals": equals}}, "c")
    assert str(caught.value) == message


def test_json_values_pass_through() -> None:
    value = {"a": [1, 2.5, None, True, "x", {"b": []}]}
    assert json_value(value, "p") is value
