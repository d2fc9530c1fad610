"""Secrets out of a scenario document before it is archived or printed."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
SECRET_WORDS = ("authorization", "cookie", "token", "secret", "password", "api-key", "apikey",
                "api_key")


def is_secret_header(name: object) -> bool:
    return isinstance(name, str) and any(word in name.lower() for word in SECRET_WORDS)


def redact(doc: Any) -> Any:
    """A deep copy of ``doc`` with secret header values (``http.headers`` and each
    ``requests[i].headers``) and a password in the target URL replaced by ``***``.
    Anything that is not shaped like a scenario is copied unchanged."""
    result = copy.deepcopy(doc)
    if not isinstance(result, dict):
        return result
    _mask_headers(result.get("http"))
    requests = result.get("requests")
    for request in requests if isinstance(requests, list) else ():
        _mask_headers(request)
    if isinstance(result.get("target"), str):
        result["target"] = _mask_url(result["target"])
    return result


def _mask_headers(section: Any) -> None:
    headers = section.get("headers") if isinstance(section, dict) else None
    if isinstance(headers, dict):
        for name in headers:
            if is_secret_header(name):
                headers[name] = MASK


def _mask_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password is None:
        return url
    netloc = parts.netloc.replace(f":{password}@", f":{MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
