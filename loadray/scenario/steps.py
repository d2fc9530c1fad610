"""One step of a flow (or one ``requests:`` entry): what it sends, extracts and checks.

Keys: ``name``, ``method``, ``path`` (a template: ``/orders/{{ id }}`` or an absolute
``http(s)://`` URL), ``query`` and ``headers`` (mappings of templates), at most one
body (``json``, ``form`` or ``body``), ``timeout``, ``extract``, ``check``, ``retry``,
``on_failure`` (``stop`` | ``continue``), ``max_body`` (what a check or an
extraction may read of the response; default ``http.max_body``), ``http``
(``{version: 2}``: this step on HTTP/2; default ``http.version``), ``stream`` and ``llm``
(:mod:`.stream_step`).

Every template is returned with its YAML path so that :mod:`.variables` can check
the names it uses.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import (
    Fields,
    choice,
    duration,
    item_path,
    key_path,
    show,
    string,
)
from loadray.flow.checks import compile_checks
from loadray.flow.extract import compile_extractors
from loadray.flow.grpc_checks import grpc_checks
from loadray.flow.json_templates import compile_json, template_leaves
from loadray.flow.retry import RetryPolicy, compile_retry
from loadray.flow.templates import BUILTINS, Template, compile_template
from loadray.redaction import redact_text
from loadray.scenario.http_settings import body_size, headers
from loadray.scenario.http_version import step_http
from loadray.scenario.model import Body, Step
from loadray.scenario.stream_step import STREAM_KEYS, stream_spec

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
BODY_KEYS = ("json", "form", "body")
STEP_KEYS = (
    "name", "method", "path", "query", "headers", *BODY_KEYS, "timeout", "extract", "check",
    "retry", "on_failure", "max_body", "http", "grpc", *STREAM_KEYS,
)
ON_FAILURE = ("stop", "continue")
URL_SCHEMES = ("http://", "https://")

_BAD_PATH = re.compile(r"[\x00-\x20\x7f]")  # spaces and control characters

Templates = tuple[tuple[str, Template], ...]  # (YAML path, template)


@dataclass(frozen=True)
class ParsedStep:
    step: Step
    path: str  # the step's YAML path (``flows[0].steps[1]``)
    templates: Templates  # every template of the step, in document order


def parse_step(fields: Fields, default_retry: RetryPolicy, default_version: int = 1, folder: str = ".") -> ParsedStep:
    """The step in ``fields`` (whose allowed keys the caller chose); a ``grpc`` key
    makes it a gRPC call (see :mod:`.grpc_steps`; files relative to ``folder``)."""
    if "grpc" in fields:
        request, templates = _grpc(fields, folder)
        default_name, checks = f"{request['path'].source[1:]}", grpc_checks
    else:
        request, templates = _http(fields)
        request["http_version"] = fields.get("http", step_http, default_version)
        request["stream"] = stream_spec(fields, request["method"])
        default_name, checks = f"{request['method']} {request['path'].source}", compile_checks
    step = Step(
        name=redact_text(fields.get("name", string, default_name)),
        **request,
        timeout_s=fields.get("timeout", duration(), None),
        extract=_extractors(fields),
        checks=fields.get("check", checks, ()),
        retry=fields.get("retry", compile_retry, default_retry),
        stop_on_failure=fields.get("on_failure", choice(*ON_FAILURE), "stop") == "stop",
        max_body=fields.get("max_body", body_size, None),
    )
    return ParsedStep(step, fields.path, templates)


def _http(fields: Fields) -> tuple[dict[str, Any], Templates]:
    method = fields.get("method", choice(*METHODS, fold_case=True), "GET")
    target = fields.get("path", url_template, compile_template("/", ""))
    query = fields.get("query", query_templates, ())
    header_templates = fields.get("headers", templated_headers, ())
    body, body_templates = _body(fields)
    templates = (
        (fields.path_of("path"), target),
        *((key_path(fields.path_of("query"), name), t) for name, t in query),
        *((key_path(fields.path_of("headers"), name), t) for name, t in header_templates),
        *body_templates,
    )
    return dict(method=method, path=target, query=query, headers=header_templates, body=body), templates


def _grpc(fields: Fields, folder: str) -> tuple[dict[str, Any], Templates]:
    if "headers" in fields:
        raise ScenarioError(fields.path_of("headers"), "a gRPC step sends grpc.metadata, not headers")
    if "http" in fields:
        raise ScenarioError(fields.path_of("http"), "a gRPC step has no HTTP version (gRPC runs on its own channels)")
    for key in STREAM_KEYS:
        if key in fields:
            raise ScenarioError(fields.path_of(key), "a gRPC step's messages are counted without it (the `chunks` column)")
    from loadray.scenario.grpc_steps import grpc_request

    request = grpc_request(fields, folder)
    for extractor in _extractors(fields):
        if extractor.source == "cookie":
            raise ScenarioError(fields.path_of("extract"), f"{extractor.name!r}: a gRPC response has no cookies "
                                "(source: header reads its metadata)")
    return dict(method="POST", path=request.path, headers=request.headers, body=request.body,
                grpc=request.call), request.templates


def url_template(value: Any, path: str) -> Template:
    """A path starting with '/' or an absolute http(s) URL; no spaces outside ``{{ }}``."""
    if not isinstance(value, str):
        raise ScenarioError(path, f"must be a string starting with '/', got {show(value)}")
    if not value.startswith(("/", *URL_SCHEMES)):
        raise ScenarioError(
            path, f"must start with '/' or be an absolute http(s):// URL, got {value!r}"
        )
    template = compile_template(value, path)
    if any(type(part) is str and _BAD_PATH.search(part) for part in template.parts):
        raise ScenarioError(path, f"must not contain spaces or control characters, got {value!r}")
    return template


def query_templates(value: Any, path: str) -> tuple[tuple[str, Template], ...]:
    """``name: value`` query parameters; values are templates (numbers and booleans as text)."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ScenarioError(path, f"must be a mapping of parameter names to values, got {show(value)}")
    result = []
    for name, item in value.items():
        where = key_path(path, name)
        if not isinstance(name, str) or not name:
            raise ScenarioError(where, f"not a valid parameter name: {show(name)}")
        result.append((name, compile_template(scalar_text(item, where), where)))
    return tuple(result)


def templated_headers(value: Any, path: str) -> tuple[tuple[str, Template], ...]:
    return tuple(
        (name, compile_template(text, key_path(path, name))) for name, text in headers(value, path)
    )


def scalar_text(value: Any, path: str) -> str:
    """A string, number or boolean as the text it is sent as (``true``, ``5``, ``2.5``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or isinstance(value, float) and math.isfinite(value):
        return str(value)
    raise ScenarioError(path, f"must be a string, number or boolean, got {show(value)}")


def _body(fields: Fields) -> tuple[Body | None, Templates]:
    given = [key for key in BODY_KEYS if fields.value.get(key) is not None]
    if len(given) > 1:
        raise ScenarioError(
            fields.path, f"has {' and '.join(given)}: a step sends at most one of json, form, body"
        )
    if not given:
        return None, ()
    key = given[0]
    where = fields.path_of(key)
    if key == "body":
        template = fields.get(key, _raw_body)
        return Body("raw", template), ((where, template),)
    value = fields.value[key] if key == "json" else _form(fields.value[key], where)
    tree = compile_json(value, where)
    return Body("json" if key == "json" else "form", tree), tuple(template_leaves(tree.value, where))


def _raw_body(value: Any, path: str) -> Template:
    if not isinstance(value, str):
        raise ScenarioError(path, f"must be a string, got {show(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ScenarioError(path, f"cannot be encoded as UTF-8 ({exc.reason})") from None
    return compile_template(value, path)


def _form(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ScenarioError(path, f"must be a mapping of field names to values, got {show(value)}")
    return {str(name): scalar_text(item, key_path(path, name)) for name, item in value.items()}


def _extractors(fields: Fields) -> tuple:
    extract = fields.get("extract", compile_extractors, ())
    listed = isinstance(fields.value.get("extract"), list)
    for i, extractor in enumerate(extract):
        if extractor.name in BUILTINS:
            where = item_path(fields.path_of("extract"), i) if listed else fields.path_of("extract")
            raise ScenarioError(
                f"{where}.name", f"{extractor.name!r} is a built-in variable; choose another name"
            )
    return extract
