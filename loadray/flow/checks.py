"""Per-step expectations; the first that fails names the row's ``check`` error.

Spec (every key optional, checked in this order)::

    status: [200, 201]          # or 200, or "2xx", or [200, "3xx"]
    body_contains: "text"
    json: {expr: "items[0].id", equals: 5}    # or a list of these

A check that cannot be evaluated on a response (a JMESPath function given the wrong
type, a body cut at ``max_body`` that the check needs whole) raises
:class:`CheckError`; the row's error is then ``check_error``, not a failed check.
``body_contains`` passes when the needle is in the kept part of a cut body; when it is
not there, the answer is unknown: ``check_error``. ``equals`` takes JSON values only
(a YAML date or binary is refused at validation: quote it).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import Fields, one_or_many, string
from loadray.flow.query import Query, compile_query
from loadray.flow.response import Response
from loadray.redaction import MASK, is_secret_name, redact_body, redact_text

KEYS = ("status", "body_contains", "json")
JSON_KEYS = ("expr", "equals")
_STATUS_CLASS = re.compile(r"([1-5])xx")


@dataclass(frozen=True)
class StatusIn:
    codes: frozenset[int]
    classes: frozenset[int]  # 2 for "2xx"
    name: str
    reads_body = False

    def passes(self, response: Response) -> bool:
        return response.status in self.codes or response.status // 100 in self.classes


@dataclass(frozen=True)
class BodyContains:
    needle: bytes
    reads_body = True

    @cached_property  # redacted once: it names every failure
    def name(self) -> str:
        return f"body contains {redact_body(self.needle.decode())!r}"

    def passes(self, response: Response) -> bool:
        if self.needle in response.body:
            return True
        if response.truncated:
            raise response.over_max()
        return False


@dataclass(frozen=True)
class JsonEquals:
    expr: str
    expected: Any
    query: Query = field(repr=False, compare=False)
    reads_body = True

    @cached_property  # redacted once: it names every failure
    def name(self) -> str:
        shown = MASK if is_secret_name(self.expr) else redact_text(json.dumps(self.expected, default=str))
        return f"json {self.expr} == {shown}"

    def passes(self, response: Response) -> bool:
        return same(self.query.search(response.json), self.expected)


Check = StatusIn | BodyContains | JsonEquals


def compile_checks(spec: Any, path: str) -> tuple[Check, ...]:
    """The checks of one step, in a fixed order: status, body_contains, json."""
    if spec is None:
        return ()
    fields = Fields(spec, path, KEYS)
    checks: list[Check] = []
    if "status" in fields:
        checks.append(fields.get("status", _status))
    if "body_contains" in fields:
        checks.append(BodyContains(fields.get("body_contains", string).encode()))
    if "json" in fields:
        checks.extend(_json(item, where) for item, where in fields.get("json", one_or_many))
    return tuple(checks)


class CheckError(Exception):
    """A check raised ``cause`` instead of passing or failing."""

    def __init__(self, name: str, cause: Exception) -> None:
        super().__init__(name)
        self.name = name
        self.cause = cause


def evaluate(checks: tuple[Check, ...], response: Response) -> str | None:
    """The name of the first failed check; None when all pass. A check that raises
    (before any failed) raises :class:`CheckError`."""
    for check in checks:
        try:
            passed = check.passes(response)
        except Exception as exc:
            raise CheckError(check.name, exc) from exc
        if not passed:
            return check.name
    return None


def same(actual: Any, expected: Any) -> bool:
    """JSON equality: like ``==`` but ``true`` is not ``1`` (and ``1 == 1.0`` holds)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(same(actual[k], expected[k]) for k in actual)
    return actual == expected


def _status(spec: Any, path: str) -> StatusIn:
    codes: set[int] = set()
    classes: set[int] = set()
    shown = []
    for item, where in one_or_many(spec, path):
        if isinstance(item, str) and (match := _STATUS_CLASS.fullmatch(item)):
            classes.add(int(match.group(1)))
        elif isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
            codes.add(item)
        else:
            raise ScenarioError(where, f"must be a status code (100-599) or a class like 2xx, got {item!r}")
        shown.append(str(item))
    return StatusIn(frozenset(codes), frozenset(classes), f"status in [{', '.join(shown)}]")


def _json(spec: Any, path: str) -> JsonEquals:
    fields = Fields(spec, path, JSON_KEYS)
    expr = fields.get("expr", string)
    return JsonEquals(expr, fields.get("equals", json_value), compile_query(expr, fields.path_of("expr")))


def json_value(value: Any, path: str) -> Any:
    """``value`` if JSON can carry it (null, bool, finite number, string, list, mapping
    with string keys), else a ScenarioError naming the first bad part."""
    pending = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ScenarioError(where, f"must be a finite number, got {item!r}")
        if isinstance(item, list):
            pending.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
        elif isinstance(item, dict):
            for key, v in item.items():
                if not isinstance(key, str):
                    raise ScenarioError(where, f"keys must be strings (quote {key!r})")
                pending.append((v, f"{where}.{key}"))
        elif item is not None and not isinstance(item, (bool, int, float, str)):
            shown = item.isoformat() if hasattr(item, "isoformat") else repr(item)
            raise ScenarioError(
                where, f"must be a JSON value, got a YAML {type(item).__name__} ({shown}); quote it: '{shown}'"
            )
    return value
