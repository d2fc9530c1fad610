"""A scenario with a marker secret planted in every field of the grammar that can carry one.

Shared by the pure test (``tests/unit/test_redaction.py``: the redacted document, the
step and check names) and the real run (``tests/e2e/test_redaction_run.py``: every file
of the run directory). Fields that validation rejects outright (a target URL with a
``?query``) cannot reach a run; the CLI error that echoes them is tested separately.
"""

from __future__ import annotations

from typing import Any

MARKER = "MRKq7Zx3plant"  # a string secret
NUMBER = 73194628  # a secret that is not a string (``pin: 73194628``)
MARKERS = (MARKER, str(NUMBER))

#: What each planted field is, for the report of a test that finds one.
FIELDS = (
    "target URL userinfo",
    "http.headers: Authorization, X-Custom-Auth, Cookie, X-Api-Key",
    "step headers: X-Session-Token, Proxy-Authorization, a template from a feeder column",
    "path query (/login?token=)",
    "step URL userinfo and ?access_token=",
    "query: api_key, passwd, secret (a number)",
    "json: password, pin (a number), a list and a mapping under secret names, depth 3",
    "form: passwd, session_id (a number)",
    "body: JSON, form-encoded and key: value text",
    "check json equals under a secret expr, body_contains with a secret field",
    "alerts.webhook ?token=",
    "default step names made from those paths and URLs",
)


def flows_scenario(base_url: str, feeder: str) -> dict[str, Any]:
    """Every step-level field, on the flow path (checks, extraction, a feeder)."""
    host = base_url.split("://", 1)[1]
    m, n = MARKER, NUMBER
    return {
        **_common(base_url),
        "feeders": [{"name": "users", "file": feeder}],
        "flows": [{"name": "login", "steps": [
            {"path": f"/login?token={m}&page=1",
             "headers": {"X-Session-Token": m, "Proxy-Authorization": f"Basic {m}",
                         "X-Pass": "{{ users.password }}"},
             "query": {"api_key": m, "passwd": m, "secret": n, "page": 2},
             "json": {"user": "alice", "password": m, "pin": n,
                      "profile": {"credentials": {"private_key": m}, "tokens": [m, m]}},
             "extract": {"name": "tok", "source": "json", "expr": "token"}, "check": {"status": [200]}},
            {"path": "/me", "on_failure": "continue", "check": {"json": {"expr": "session", "equals": m}}},
            {"path": f"http://admin:{m}@{host}/form?access_token={m}",
             "headers": {"Authorization": "Bearer {{ tok }}"},
             "form": {"passwd": m, "user": "bob", "session_id": n}},
            {"method": "POST", "path": "/raw", "body": f'{{"password": "{m}", "user": "carol"}}',
             "on_failure": "continue", "check": {"body_contains": f"password={m}"}},
            {"method": "POST", "path": "/raw2", "body": f"user=dave&password={m}"},
            {"method": "POST", "path": "/raw3", "body": f"password: {m}\nuser: erin"},
        ]}],
    }


def requests_scenario(base_url: str) -> dict[str, Any]:
    """Static requests only: the fast path, with its own step names."""
    m, n = MARKER, NUMBER
    return {
        **_common(base_url),
        "requests": [
            {"path": f"/login?token={m}", "headers": {"X-Session-Token": m},
             "query": {"api_key": m, "secret": n}},
            {"method": "POST", "path": "/json", "json": {"password": m, "pin": n, "a": [{"token": m}]}},
            {"method": "POST", "path": "/form?apikey=" + m, "form": {"passwd": m}},
            {"method": "POST", "path": "/raw", "body": f"user=dave&password={m}"},
        ],
    }


def _common(base_url: str) -> dict[str, Any]:
    scheme, host = base_url.split("://", 1)
    return {
        "name": "planted",
        "target": f"{scheme}://user:{MARKER}@{host}",
        "workers": 1,
        "cluster": {"worker_cpus": 0.5},
        "load": {"model": "open", "phases": [{"duration": "1s", "rate": 20}]},
        "http": {"timeout": "2s", "headers": {
            "Authorization": f"Bearer {MARKER}", "X-Custom-Auth": MARKER,
            "Cookie": f"session={MARKER}", "X-Api-Key": MARKER,
        }},
        "alerts": {"webhook": f"{base_url}/hook?token={MARKER}&channel=ops"},
        "thresholds": ["error_rate < 1%"],
    }


def leaks(text: str | bytes) -> list[str]:
    """The markers found in ``text``."""
    if isinstance(text, bytes):
        return [m for m in MARKERS if m.encode() in text]
    return [m for m in MARKERS if m in text]
