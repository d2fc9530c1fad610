"""JMESPath expressions compiled once; a bad one is a one-line ScenarioError."""

from __future__ import annotations

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.parser import ParsedResult

from loadray.errors import ScenarioError

Query = ParsedResult


def compile_query(expr: str, path: str) -> Query:
    """``jmespath.compile(expr)``, with errors naming the YAML ``path``."""
    try:
        return jmespath.compile(expr)
    except jmespath_errors.JMESPathError as exc:
        raise ScenarioError(path, f"bad JMESPath {expr!r}: {_problem(exc)}") from None


def _problem(exc: jmespath_errors.JMESPathError) -> str:
    if isinstance(exc, jmespath_errors.IncompleteExpressionError):
        return "incomplete expression"
    if isinstance(exc, jmespath_errors.LexerError):
        return f"{exc.message} at column {exc.lex_position}"
    if isinstance(exc, jmespath_errors.ParseError):
        return f"{exc.msg} at column {exc.lex_position}"
    return str(exc).splitlines()[0]
