"""Bounded input (issue 10, item 3): the scenario file's size, non-regular files, YAML
aliases, nesting and value types. Each is refused fast, with one line naming the file
(and line:column) or the YAML path."""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path

import pytest
import yaml

from loadray.errors import ScenarioError
from loadray.scenario import load_scenario, parse_scenario
from loadray.scenario import yaml_load
from test_scenario_errors import edited

HEAD = "target: http://127.0.0.1:9\nload: {phases: [{duration: 1s, rate: 1}]}\n"
BOMB = HEAD + """\
requests:
  - name: r
    method: POST
    path: /
    json:
      a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
      g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
      h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
      i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(path: Path, overrides=()) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    assert "\n" not in str(info.value)
    return info.value


def requests(count: int) -> str:
    return HEAD + "requests:\n" + "".join(f"  - {{name: r{i}, path: /p{i}}}\n" for i in range(count))


def test_a_scenario_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path):
    path = write(tmp_path, requests(200_000))  # 7.0 MB (6.7 MiB): 41 s and 800 MB to validate before
    started = time.perf_counter()
    error = refused(path)
    assert time.perf_counter() - started < 0.5
    assert error.path == str(path)
    assert error.message == "is 6.7MiB, over the limit of 1MiB (raise it with --set limits.max_scenario_size=SIZE)"


def test_the_size_limit_is_raised_with_set(tmp_path):
    path = write(tmp_path, requests(3) + "# " + "x" * 1_400_000 + "\n")
    assert refused(path).message.startswith("is 1.3MiB, over the limit of 1MiB")
    assert len(load_scenario(path, ["limits.max_scenario_size=2MiB"]).flows) == 3


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
def test_non_regular_files_are_refused_at_once(tmp_path, special):
    if special == "fifo":
        special = tmp_path / "pipe.yaml"
        os.mkfifo(special)  # nobody writes: an open without O_NONBLOCK would hang
    started = time.perf_counter()
    error = refused(Path(special))
    assert time.perf_counter() - started < 0.5
    assert error.message == "is not a regular file (a device, pipe or socket), not a scenario file"


def test_an_alias_bomb_in_a_json_body_fails_fast_naming_where(tmp_path):
    started = time.perf_counter()
    error = refused(write(tmp_path, BOMB))  # 9**9 values: > 60 s and 555 MB before
    assert time.perf_counter() - started < 1.0
    assert error.path == "requests[0].json.g"  # the first value past the limit
    assert error.message == (
        "expands to more than 1000000 values through YAML aliases (raise limits.max_values if you mean it)"
    )


def test_max_values_bounds_alias_expansion_both_ways(tmp_path):
    text = HEAD + "requests:\n  - {name: r, path: /, json: {a: &a [1, 2, 3], b: [*a, *a, *a, *a]}}\n"
    assert load_scenario(write(tmp_path, text)).flows[0].steps[0].body is not None
    assert refused(write(tmp_path, text), ["limits.max_values=10"]).path == "requests[0].json.b"


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    error = refused(write(tmp_path, HEAD + "requests:\n  - {name: r, path: /, json: &a [1, *a]}\n"))
    assert (error.path, error.message) == ("requests[0].json[1]", "contains itself (a YAML alias inside its own anchor)")


@pytest.mark.parametrize("depth", [101, 100_000])  # 100k: libyaml's own composer crashed the process
def test_nesting_past_the_parser_ceiling_names_line_and_column(tmp_path, depth):
    path = write(tmp_path, HEAD + "requests: [{name: r, path: /, json: " + "[" * depth + "]" * depth + "}]\n")
    error = refused(path)
    line, column = error.path.removeprefix(f"{path}:").split(":")
    assert line == "3" and 38 <= int(column) < 38 + depth  # at one of the brackets
    assert error.message == "invalid YAML: nested deeper than 100 levels"


def test_nesting_past_max_depth_names_the_path_and_can_be_raised(tmp_path):
    path = write(tmp_path, HEAD + "requests: [{name: r, path: /, json: " + "[" * 70 + "]" * 70 + "}]\n")
    error = refused(path)
    assert error.path == "requests[0].json[0][0][0]"
    assert error.message == "nested more than 64 levels deep (raise limits.max_depth if you mean it)"
    assert load_scenario(path, ["limits.max_depth=80"]).name == "s"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-01-01", "a YAML date or time; quote it to use it as text (2024-01-01)"),
        (".inf", ".inf is not a finite number"),
        ("-.inf", "-.inf is not a finite number"),
        (".nan", ".nan is not a finite number"),
        ("1.0e+400", "1.0e+400 is not a finite number"),
        ("9" * 5000, "integer of 5000 characters is too long"),
        ("!!binary aGk=", "!!binary values are not supported (aGk=)"),
        ("!!set {a}", "!!set values are not supported; use a list"),
    ],
    ids=["date", "inf", "-inf", "nan", "1e400", "5000-digits", "binary", "set"],
)
def test_values_that_are_not_plain_json_name_line_and_column(tmp_path, value, message):
    line = f"  - {{name: r, path: /, json: {{x: {value}}}}}"
    path = write(tmp_path, HEAD + f"requests:\n{line}\n")
    error = refused(path)
    assert error.path == f"{path}:4:{line.index('x: ') + 4}"
    assert error.message.startswith(f"invalid YAML: {message}")


def test_libyaml_parses_when_installed():
    assert yaml_load.LIBYAML == yaml.__with_libyaml__
    if yaml_load.LIBYAML:
        assert issubclass(yaml_load._Loader, yaml._yaml.CParser)


def _cycle() -> dict:
    loop: dict = {}
    loop["again"] = loop
    return loop


def _deep(levels: int) -> dict:
    root = node = {}
    for _ in range(levels):
        node["a"] = node = {}
    return root


@pytest.mark.parametrize(
    ("value", "path", "fragment"),
    [
        (_cycle(), "requests[0].json.again", "contains itself"),
        (_deep(100_000), "requests[0].json.a.a.a", "nested more than 64 levels deep"),
        (datetime.date(2024, 1, 1), "requests[0].json", "is a date; a scenario holds only mappings, lists,"),
        ({1, 2}, "requests[0].json", "is a set;"),
        (float("nan"), "requests[0].json", "must be a finite number, got nan"),
        (10**5000, "requests[0].json", "integer too long"),
        ("a\ud800", "requests[0].json", "is not valid Unicode text (surrogates not allowed at 1)"),
    ],
    ids=["cycle", "deep", "date", "set", "nan", "huge-int", "surrogate"],
)
def test_documents_built_in_python_get_the_same_checks(value, path, fragment):
    doc = edited({})
    doc["requests"][0]["json"] = value  # not copied: a copy would recurse 100k deep
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc)
    assert info.value.path == path
    assert fragment in info.value.message


def test_a_parsed_document_is_the_callers_and_stays_untouched():
    doc = edited({})
    scenario = parse_scenario(doc, ["workers=3"])
    assert doc == edited({}) and scenario.workers == 3
    scenario.source["load"]["phases"][0]["rate"] = 1
    assert doc == edited({})


def test_a_feeder_over_max_feeder_size_names_its_yaml_path(tmp_path):
    (tmp_path / "users.csv").write_text("user\n" + "ann\n" * 1000)
    text = HEAD + "feeders: [{name: users, file: users.csv}]\nrequests: [{name: r, path: '/{{ users.user }}'}]\n"
    path = write(tmp_path, text)
    assert len(load_scenario(path).feeds[0].rows) == 1000
    error = refused(path, ["limits.max_feeder_size=1KiB"])
    assert error.path == "feeders[0].file"
    assert error.message == (
        f"is 3.9KiB, over the limit of 1KiB (raise it with limits.max_feeder_size) ({tmp_path / 'users.csv'})"
    )
