"""Templates: parsed once, rendered from a mapping, never evaluated as code."""

from __future__ import annotations

import random

import pytest

from loadray.errors import ScenarioError
from loadray.flow import MissingVariable, compile_json, compile_template, render_json
from loadray.flow.templates import RandomChoice, RandomInt, Variable, to_text

VALUES = {"token": "abc", "feeder.user": "ann", "uuid": "u-1", "worker": 3, "user": 7, "now": 1700000000000}

RENDER = [
    ("/plain", "/plain"),
    ("", ""),
    ("Bearer {{ token }}", "Bearer abc"),
    ("Bearer {{token}}", "Bearer abc"),
    ("/u/{{ feeder.user }}/{{ uuid }}", "/u/ann/u-1"),
    ("{{ worker }}-{{ user }}@{{ now }}", "3-7@1700000000000"),
    ("a }} b { c }", "a }} b { c }"),
    ("{{\n token\n}}", "abc"),
]


@pytest.mark.parametrize(("text", "expected"), RENDER)
def test_render(text: str, expected: str) -> None:
    assert compile_template(text, "p").render(VALUES) == expected


VARIABLES = [
    ("/plain", frozenset()),
    ("{{ token }}{{ token }}", frozenset({"token"})),
    ("{{ feeder.user }} {{ uuid }} {{ random_int(1, 2) }}", frozenset({"feeder.user", "uuid"})),
    ("{{ random_choice(a|b) }}", frozenset()),
]


@pytest.mark.parametrize(("text", "expected"), VARIABLES)
def test_variables(text: str, expected: frozenset[str]) -> None:
    assert compile_template(text, "p").variables == expected


PARTS = [
    ("x{{ a.b }}y", ("x", Variable("a.b"), "y")),
    ("{{ random_int(-2, 5) }}", (RandomInt(-2, 5),)),
    ("{{ random_choice( a | b c |d ) }}", (RandomChoice(("a", "b c", "d")),)),
]


@pytest.mark.parametrize(("text", "parts"), PARTS)
def test_parts_are_precompiled(text: str, parts: tuple) -> None:
    assert compile_template(text, "p").parts == parts


BAD = [
    ("{{ token", "unclosed '{{' (every '{{' needs a matching '}}')"),
    ("a {{ b }} {{", "unclosed '{{' (every '{{' needs a matching '}}')"),
    ("{{ }}", "bad template {{  }}: expected a name, random_int(a, b) or random_choice(a|b|c)"),
    ("{{ a b }}", "bad template {{ a b }}: expected a name, random_int(a, b) or random_choice(a|b|c)"),
    ("{{ a {{ b }}", "bad template {{ a {{ b }}: expected a name, random_int(a, b) or random_choice(a|b|c)"),
    ("{{ __import__('os') }}", "bad template {{ __import__('os') }}: expected a name, random_int(a, b) or random_choice(a|b|c)"),
    ("{{ token|upper }}", "bad template {{ token|upper }}: expected a name, random_int(a, b) or random_choice(a|b|c)"),
    ("{{ a.b() }}", "bad template {{ a.b() }}: expected a name, random_int(a, b) or random_choice(a|b|c)"),
    ("{{ random_int }}", "bad template {{ random_int }}: expected a name, random_int(a, b) or random_choice(a|b|c)"),
    ("{{ random_int(1.5, 2) }}", "bad template {{ random_int(1.5, 2) }}: expected a name, random_int(a, b) or random_choice(a|b|c)"),
    ("{{ random_int(5, 1) }}", "random_int(5, 1): the first bound is larger"),
    ("{{ random_choice(a||b) }}", "{{ random_choice(a||b) }}: empty option in random_choice"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_malformed_template_names_the_path(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        compile_template(text, "flow[0].path")
    assert str(caught.value) == f"flow[0].path: {message}"


def test_missing_variable_names_it() -> None:
    template = compile_template("/orders/{{ order_id }}", "p")
    with pytest.raises(MissingVariable) as caught:
        template.render({"token": "x"})
    assert caught.value.name == "order_id"
    assert caught.value.kind == "template"


def test_random_int_draws_from_the_callers_rng() -> None:
    template = compile_template("{{ random_int(1, 6) }}", "p")
    rng, twin = random.Random(42), random.Random(42)
    drawn = [template.render({}, rng) for _ in range(1000)]
    assert drawn == [str(twin.randint(1, 6)) for _ in range(1000)]
    assert set(drawn) == {"1", "2", "3", "4", "5", "6"}


def test_random_choice_draws_from_the_callers_rng() -> None:
    template = compile_template("{{ random_choice(red|green|blue) }}", "p")
    rng, twin = random.Random(7), random.Random(7)
    drawn = [template.render({}, rng) for _ in range(300)]
    assert drawn == [twin.choice(("red", "green", "blue")) for _ in range(300)]
    assert set(drawn) == {"red", "green", "blue"}


def test_random_without_rng_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        compile_template("{{ random_int(1, 2) }}", "p").render({})


TEXT = [
    ("s", "s"),
    (5, "5"),
    (1.5, "1.5"),
    (True, "true"),
    (None, "null"),
    ({"a": [1, "x"]}, '{"a":[1,"x"]}'),
]


@pytest.mark.parametrize(("value", "expected"), TEXT)
def test_values_render_as_json_text(value: object, expected: str) -> None:
    assert to_text(value) == expected


def test_render_value_keeps_the_type_of_a_lone_variable() -> None:
    assert compile_template("{{ worker }}", "p").render_value(VALUES) == 3
    assert compile_template("w{{ worker }}", "p").render_value(VALUES) == "w3"


def test_json_body_renders_nested_strings() -> None:
    body = {"user": "{{ feeder.user }}", "ids": ["{{ worker }}", "n-{{ user }}", 4, None], "ok": True}
    compiled = compile_json(body, "flow[0].json")
    assert compiled.variables == frozenset({"feeder.user", "worker", "user"})
    assert compiled.render(VALUES) == {"user": "ann", "ids": [3, "n-7", 4, None], "ok": True}
    assert render_json(compiled.value, VALUES) == compiled.render(VALUES)


def test_json_body_static_strings_stay_strings() -> None:
    compiled = compile_json({"a": "plain", "b": ["x"]}, "p")
    assert compiled.value == {"a": "plain", "b": ["x"]}
    assert compiled.variables == frozenset()


BAD_JSON = [
    ({"a": ["{{ x"]}, "flow[0].json.a[0]: unclosed '{{' (every '{{' needs a matching '}}')"),
    ({"a": {1, 2}}, "flow[0].json.a: must be JSON (mapping, list, string, number, bool, null), got {1, 2}"),
    ({1: "x"}, "flow[0].json: JSON object keys must be strings, got 1"),
]


@pytest.mark.parametrize(("value", "message"), BAD_JSON)
def test_bad_json_body_names_the_path(value: object, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        compile_json(value, "flow[0].json")
    assert str(caught.value) == message


def test_missing_variable_in_json_body() -> None:
    with pytest.raises(MissingVariable) as caught:
        compile_json({"a": ["{{ nope }}"]}, "p").render(VALUES)
    assert caught.value.name == "nope"
