"""Secrets out of a scenario document before it is archived or printed."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

MASK = "***"
SECRET_WORDS = ("authorization", "cookie", "token", "secret", "password", "api-key", "apikey",
                "api_key")


def is_secret_header(name: object) -> bool:
    return isinstance(name, str) and any(word in name.lower() for word in SECRET_WORDS)


def redact(doc: Any) -> Any:
    """A deep copy of ``doc`` with secret header values (``http.headers``, each
    ``requests[i].headers`` and each ``flows[i].steps[j].headers``), literal values of
    secret-named fields in a step's ``query``, ``json`` and ``form`` (``password: hunter2``;
    a ``{{ template }}`` stays, it names where the value comes from), a password in the
    target or ``alerts.webhook`` URL and secret-named query values in the webhook
    (``?token=...``) replaced by ``***``. Anything that is not shaped like a scenario is
    copied unchanged."""
    result = copy.deepcopy(doc)
    if not isinstance(result, dict):
        return result
    _mask_headers(result.get("http"))
    steps = list(_list(result.get("requests")))
    for flow in _list(result.get("flows")):
        steps += _list(flow.get("steps") if isinstance(flow, dict) else None)
    for step in steps:
        _mask_headers(step)
        if isinstance(step, dict):
            for key in ("query", "json", "form"):
                _mask_fields(step.get(key))
    if isinstance(result.get("target"), str):
        result["target"] = _mask_url(result["target"])
    alerts = result.get("alerts")
    if isinstance(alerts, dict) and isinstance(alerts.get("webhook"), str):
        alerts["webhook"] = _mask_url(alerts["webhook"])
    return result


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _mask_headers(section: Any) -> None:
    headers = section.get("headers") if isinstance(section, dict) else None
    if isinstance(headers, dict):
        for name in headers:
            if is_secret_header(name):
                headers[name] = MASK


def _mask_fields(value: Any) -> None:
    """Mask literal strings under secret-named keys, at any depth of a JSON body."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in list(items):
        if isinstance(item, (dict, list)):
            _mask_fields(item)
        elif isinstance(item, str) and is_secret_header(key) and "{{" not in item:
            value[key] = MASK


def _mask_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    netloc = parts.netloc
    if password is not None:
        netloc = netloc.replace(f":{password}@", f":{MASK}@", 1)
    query = "&".join(_mask_param(param) for param in parts.query.split("&"))
    masked = parts._replace(netloc=netloc, query=query)
    return url if masked == parts else urlunsplit(masked)


def _mask_param(param: str) -> str:
    name, sep, _ = param.partition("=")
    return f"{name}={MASK}" if sep and is_secret_header(unquote_plus(name)) else param
