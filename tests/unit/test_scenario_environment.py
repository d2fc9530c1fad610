"""``${VAR}`` references: the grammar (a table), the YAML path of every error, which
values are secrets, what is archived, and the names masked at load."""

from __future__ import annotations

import pytest
import yaml

from loadray.errors import ScenarioError
from loadray.redaction import redact
from loadray.scenario import load_scenario, parse_scenario
from loadray.env_text import EnvText, typed
from loadray.scenario.environment import resolve_env

ENV = {"TOKEN": "s3cr3t-token", "RATE": "250", "EMPTY": "", "HOST": "api.test", "FLAG": "true"}


@pytest.mark.parametrize(("text", "sent", "archived", "secrets"), [
    ("Bearer ${TOKEN}", "Bearer s3cr3t-token", "Bearer ${TOKEN}", {"s3cr3t-token"}),
    ("${TOKEN}", "s3cr3t-token", "${TOKEN}", {"s3cr3t-token"}),
    ("${plain:HOST}:8080", "api.test:8080", "${plain:HOST}:8080", set()),
    ("${MISSING:-fallback}", "fallback", "${MISSING:-fallback}", set()),  # a default is the file's
    ("${EMPTY:-fallback}", "fallback", "${EMPTY:-fallback}", set()),  # :- also when empty
    ("${EMPTY}", "", "${EMPTY}", set()),  # set but empty: used as is
    ("${MISSING:-}", "", "${MISSING:-}", set()),
    ("${MISSING:-a:b-c}", "a:b-c", "${MISSING:-a:b-c}", set()),
    ("cost $${TOKEN} and $$5", "cost ${TOKEN} and $$5", "cost $${TOKEN} and $$5", set()),  # the escape
    ("a${HOST}b${TOKEN}c", "aapi.testbs3cr3t-tokenc", "a${HOST}b${TOKEN}c", {"api.test", "s3cr3t-token"}),
    ("no reference $ {X} $X", "no reference $ {X} $X", "no reference $ {X} $X", set()),
])
def test_references_resolve_and_archive_as_written(text, sent, archived, secrets):
    resolved = resolve_env({"v": text}, ENV)
    assert resolved.doc == {"v": sent} and resolved.archived == {"v": archived}
    assert resolved.secrets == frozenset(secrets)


@pytest.mark.parametrize(("doc", "path", "message"), [
    ({"a": {"b": ["x", "${NOPE}"]}}, "a.b[1]",
     "environment variable NOPE is not set (set it, pass --env-file, or write ${NOPE:-default})"),
    ({"a": "${1BAD}"}, "a", "malformed reference '${1BAD}': expected ${NAME}, ${NAME:-default} or "
                            "${plain:NAME} (write $${ for a literal '${')"),
    ({"a": "x ${TOKEN"}, "a", "malformed reference '${': expected ${NAME}, ${NAME:-default} or "
                              "${plain:NAME} (write $${ for a literal '${')"),
    ({"a": "${secret:TOKEN}"}, "a", "malformed reference '${secret:TOKEN}': expected ${NAME}, "
                                    "${NAME:-default} or ${plain:NAME} (write $${ for a literal '${')"),
])
def test_a_bad_reference_is_an_error_naming_the_yaml_path(doc, path, message):
    with pytest.raises(ScenarioError) as info:
        resolve_env(doc, ENV)
    assert (info.value.path, info.value.message) == (path, message)


def test_the_input_is_not_changed_and_untouched_parts_are_shared():
    shared = {"deep": ["a", 1]}
    doc = {"x": "${TOKEN}", "y": shared}
    resolved = resolve_env(doc, ENV)
    assert doc == {"x": "${TOKEN}", "y": shared} and resolved.doc["y"] is shared
    assert resolve_env(shared, ENV).doc is shared


@pytest.mark.parametrize(("value", "expected"), [
    (EnvText("250"), 250), (EnvText("2.5"), 2.5), (EnvText("true"), True), (EnvText("10s"), "10s"),
    (EnvText("abc # not a comment"), "abc # not a comment"), (EnvText(""), ""), ("250", "250"), (7, 7),
])
def test_a_whole_reference_is_a_number_or_boolean_only_where_one_is_read(value, expected):
    result = typed(value)
    assert result == expected and isinstance(result, type(expected))


def _doc(**extra):
    return {"name": "env", "target": "http://${plain:HOST}:8080", "workers": "${WORKERS:-1}",
            "load": {"phases": [{"duration": "${DUR:-2s}", "rate": "${RATE}"}]},
            "http": {"headers": {"Authorization": "Bearer ${TOKEN}", "X-Rate": "${RATE}"}},
            "requests": [{"path": "/orders?id=${TOKEN}"},
                         {"path": "/x", "name": "x ${TOKEN}", "check": {"body_contains": "${TOKEN}"}}],
            "thresholds": ["p99 < ${P99:-1s}"], **extra}


def test_a_scenario_resolves_types_secrets_and_names():
    scn = parse_scenario(_doc(), environ={**ENV, "P99": "250ms"})
    assert scn.workers == 1 and scn.phases[0].rate == 250.0 and scn.phases[0].duration_s == 2.0
    assert scn.target.url == "http://api.test:8080"
    assert dict(scn.http.headers) == {"Authorization": "Bearer s3cr3t-token", "X-Rate": "250"}  # text stays text
    assert scn.thresholds[0].expr == "p99 < 250ms"  # thresholds: always plain, archived resolved
    assert scn.secrets == {"s3cr3t-token", "250"}
    step, named = scn.flows[0].steps[0], scn.flows[1].steps[0]
    assert step.name == "GET /orders?id=***" and step.path.source == "/orders?id=s3cr3t-token"
    assert named.name == "x ***" and [c.name for c in named.checks] == ["body contains '***'"]
    assert "secrets=" not in repr(scn)  # never in a repr (a traceback) of its own


def test_the_archived_document_keeps_the_references_and_reloads_to_the_same_scenario(tmp_path):
    scn = parse_scenario(_doc(), environ=ENV)
    assert scn.source["http"]["headers"]["Authorization"] == "Bearer ${TOKEN}"
    assert scn.source["thresholds"] == ["p99 < 1s"] and scn.source["workers"] == "${WORKERS:-1}"
    written = yaml.safe_dump(redact(scn.source), sort_keys=False)  # what scenario.yaml holds
    assert "s3cr3t-token" not in written and "Bearer ${TOKEN}" in written
    path = tmp_path / "again.yaml"
    path.write_text(written)
    assert load_scenario(path, environ=ENV) == scn


def test_set_values_are_resolved_too_and_errors_do_not_echo_secrets():
    scn = parse_scenario(_doc(), ["http.headers.X-Api-Key=${TOKEN}"], environ=ENV)
    assert dict(scn.http.headers)["X-Api-Key"] == "s3cr3t-token" and scn.secrets == {"s3cr3t-token", "250"}
    with pytest.raises(ScenarioError) as info:
        parse_scenario(_doc(workers="${TOKEN}"), environ=ENV)
    assert str(info.value) == "workers: must be an integer, got '***'"


def test_the_process_environment_is_the_default(monkeypatch):
    monkeypatch.setenv("TOKEN", "from-the-process")
    monkeypatch.setenv("RATE", "5")
    monkeypatch.setenv("HOST", "h.test")
    scn = parse_scenario(_doc())
    assert dict(scn.http.headers)["Authorization"] == "Bearer from-the-process"
