"""``extract:``: take a value from a response into a flow variable.

Sources: ``json`` (a JMESPath over the parsed body), ``header`` (case-insensitive
name), ``regex`` (over the body text: group 1 if the pattern has a group, else the
whole match; run on RE2, see :mod:`loadray.flow.regex`) and ``cookie`` (by name).
Everything is compiled once, at validation.

An extractor that finds nothing sets nothing. One that raises on a response (a
JMESPath such as ``abs(@)`` given a string, ``foo(@)``, a JSON body cut at
``max_body``, a regex with no match in the kept part of a cut body) raises
:class:`ExtractError`: the step's row gets error ``extract``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import Fields, choice, one_or_many, string
from loadray.flow.query import Query, compile_query
from loadray.flow.regex import Pattern, compile_regex
from loadray.flow.response import Response

SOURCES = ("json", "header", "regex", "cookie")
BODY_SOURCES = frozenset({"json", "regex"})
KEYS = ("name", "source", "expr")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Finder = Callable[[Response], Any]


@dataclass(frozen=True)
class Extractor:
    """Where one variable comes from; ``apply`` gives its value or None."""

    name: str
    source: str
    expr: str
    find: Finder = field(repr=False, compare=False)

    @property
    def reads_body(self) -> bool:
        return self.source in BODY_SOURCES

    def apply(self, response: Response) -> Any | None:
        return self.find(response)


class ExtractError(Exception):
    """Extractor ``name`` raised ``cause`` on a response."""

    def __init__(self, name: str, cause: Exception) -> None:
        super().__init__(name)
        self.name = name
        self.cause = cause


def compile_extractor(spec: Any, path: str) -> Extractor:
    """``{name, source, expr}`` -> Extractor; a bad JMESPath or regex names ``path`` itself."""
    fields = Fields(spec, path, KEYS)
    name = fields.get("name", string)
    if not _VARIABLE.fullmatch(name):
        raise ScenarioError(fields.path_of("name"), f"must be a plain name (letters, digits, _), got {name!r}")
    source = fields.get("source", choice(*SOURCES))
    expr = fields.get("expr", string)
    return Extractor(name, source, expr, _finder(source, expr, path))


def compile_extractors(spec: Any, path: str) -> tuple[Extractor, ...]:
    """One extractor spec or a list of them (``path[i]`` each); None or [] -> ()."""
    if spec is None or spec == []:
        return ()
    return tuple(compile_extractor(item, where) for item, where in one_or_many(spec, path))


def extract_all(extractors: tuple[Extractor, ...], response: Response) -> dict[str, Any]:
    """The variables that matched (an extractor that finds nothing sets nothing); one
    that raises raises :class:`ExtractError`."""
    found = {}
    for extractor in extractors:
        try:
            value = extractor.apply(response)
        except Exception as exc:
            raise ExtractError(extractor.name, exc) from exc
        if value is not None:
            found[extractor.name] = value
    return found


def _finder(source: str, expr: str, path: str) -> Finder:
    if source == "json":
        return partial(_from_json, compile_query(expr, path))
    if source == "regex":
        return partial(_from_regex, compile_regex(expr, path))
    if source == "header":
        return partial(_from_header, expr)
    return partial(_from_cookie, expr)


def _from_json(query: Query, response: Response) -> Any | None:
    return query.search(response.json)


def _from_regex(pattern: Pattern, response: Response) -> str | None:
    match = pattern.search(response.text)
    if match is None:
        if response.truncated:
            raise response.over_max()
        return None
    return match.group(1) if pattern.groups else match.group(0)


def _from_header(name: str, response: Response) -> str | None:
    return response.header(name)


def _from_cookie(name: str, response: Response) -> str | None:
    return response.cookies.get(name)
