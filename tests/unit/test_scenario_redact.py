"""Secrets are masked in the archived scenario; everything else is kept."""

from __future__ import annotations

import copy

import pytest

from loadray.scenario import redact
from loadray.scenario.redact import MASK

DOC = {
    "name": "s",
    "target": "http://127.0.0.1:8080",
    "http": {"timeout": "2s", "headers": {
        "Authorization": "Bearer abc", "X-Token": "t", "Accept": "text/plain",
        "x-api-key": "k", "APIKEY": "k", "Cookie": "c=1", "X-Client-Secret": "s",
        "X-Password": "p", "User-Agent": "loadray",
    }},
    "requests": [
        {"path": "/", "headers": {"proxy-authorization": "Basic x", "X-Trace": "1"}},
        {"path": "/b"},
        "not a mapping",
    ],
    "flows": [
        {"name": "f", "steps": [
            {"path": "/login", "headers": {"Authorization": "Bearer {{ token }}", "X-A": "1"}},
            {"path": "/b"},
            "not a mapping",
        ]},
        {"name": "g", "steps": None},
        "not a mapping",
    ],
}


def test_redact_masks_secret_headers_only():
    before = copy.deepcopy(DOC)
    result = redact(DOC)
    assert DOC == before  # a copy, never in place
    assert result["http"] == {"timeout": "2s", "headers": {
        "Authorization": "***", "X-Token": "***", "Accept": "text/plain",
        "x-api-key": "***", "APIKEY": "***", "Cookie": "***", "X-Client-Secret": "***",
        "X-Password": "***", "User-Agent": "loadray",
    }}
    assert result["requests"] == [
        {"path": "/", "headers": {"proxy-authorization": "***", "X-Trace": "1"}},
        {"path": "/b"},
        "not a mapping",
    ]
    assert result["flows"][0]["steps"][:2] == [
        {"path": "/login", "headers": {"Authorization": "***", "X-A": "1"}},
        {"path": "/b"},
    ]
    assert result["flows"][1:] == DOC["flows"][1:]
    assert result["target"] == DOC["target"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("http://user:hunter2@h:80/x", "http://user:***@h:80/x"),
        ("http://user@h", "http://user@h"),
        ("builtin", "builtin"),
    ],
)
def test_redact_masks_url_password(target, expected):
    assert redact({"target": target})["target"] == expected


@pytest.mark.parametrize(
    ("webhook", "expected"),
    [
        ("http://u:pw@127.0.0.1:9000/hook", "http://u:***@127.0.0.1:9000/hook"),
        ("https://h/hook?token=abc&channel=ops", "https://h/hook?token=***&channel=ops"),
        ("https://h/hook?API_KEY=k&x", "https://h/hook?API_KEY=***&x"),
        ("http://127.0.0.1:9000/hook", "http://127.0.0.1:9000/hook"),
    ],
)
def test_redact_masks_webhook_secrets(webhook, expected):
    doc = {"alerts": {"webhook": webhook}}
    assert redact(doc) == {"alerts": {"webhook": expected}}
    assert doc == {"alerts": {"webhook": webhook}}


@pytest.mark.parametrize(
    "doc", [None, [], "x", {"http": None, "requests": None}, {"alerts": None}, {"flows": [5]},
            {"flows": {"steps": []}}, {"flows": [{"steps": "x"}]},
            {"alerts": {"webhook": 5}}],
)
def test_redact_tolerates_any_shape(doc):
    assert redact(doc) == doc


def test_redact_masks_literal_secrets_in_bodies_and_queries_but_keeps_templates():
    doc = {"flows": [{"name": "f", "steps": [
        {"path": "/login", "json": {"user": "alice", "password": "hunter2",
                                    "nested": [{"api_key": "k-1", "n": 3}], "token": "{{ users.token }}"}},
        {"path": "/x", "form": {"secret": "s3", "a": "b"}, "query": {"access_token": "t", "page": "2"}},
    ]}], "requests": [{"path": "/", "json": {"Password": "p"}}]}
    out = redact(doc)
    login, x = out["flows"][0]["steps"]
    assert login["json"] == {"user": "alice", "password": MASK, "nested": [{"api_key": MASK, "n": 3}],
                             "token": "{{ users.token }}"}
    assert x["form"] == {"secret": MASK, "a": "b"} and x["query"] == {"access_token": MASK, "page": "2"}
    assert out["requests"][0]["json"] == {"Password": MASK}
    assert doc["flows"][0]["steps"][0]["json"]["password"] == "hunter2"  # the input is untouched
