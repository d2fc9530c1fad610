"""The ``requests`` list: what each generated request sends."""

from __future__ import annotations

import re
from typing import Any

from loadray.errors import ScenarioError
from loadray.scenario.fields import Fields, choice, item_path, nonempty_list, show, string
from loadray.scenario.http_settings import headers
from loadray.scenario.model import Request

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
REQUEST_KEYS = ("name", "method", "path", "headers", "body")

_BAD_PATH = re.compile(r"[\x00-\x20\x7f]")  # spaces and control characters


def parse_requests(value: Any, path: str = "requests") -> tuple[Request, ...]:
    result: list[Request] = []
    first_seen: dict[str, int] = {}
    for i, item in enumerate(nonempty_list("request")(value, path)):
        request = parse_request(item, item_path(path, i))
        if request.name in first_seen:
            raise ScenarioError(
                f"{item_path(path, i)}.name",
                f"duplicate request name {request.name!r} "
                f"(also {item_path(path, first_seen[request.name])})",
            )
        first_seen[request.name] = i
        result.append(request)
    return tuple(result)


def parse_request(value: Any, path: str) -> Request:
    fields = Fields(value, path, REQUEST_KEYS)
    method = fields.get("method", choice(*METHODS, fold_case=True), "GET")
    target = fields.get("path", url_path, "/")
    return Request(
        name=fields.get("name", string, f"{method} {target}"),
        method=method,
        path=target,
        headers=fields.get("headers", headers, ()),
        body=fields.get("body", body, None),
    )


def url_path(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ScenarioError(path, f"must be a string starting with '/', got {show(value)}")
    if not value.startswith("/"):
        raise ScenarioError(path, f"must start with '/', got {value!r}")
    if _BAD_PATH.search(value):
        raise ScenarioError(path, f"must not contain spaces or control characters, got {value!r}")
    return value


def body(value: Any, path: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScenarioError(path, f"must be a string, got {show(value)}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ScenarioError(path, f"cannot be encoded as UTF-8 ({exc.reason})") from None
