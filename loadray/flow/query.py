"""JMESPath expressions compiled once; a bad one is a one-line ScenarioError."""

from __future__ import annotations

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.parser import ParsedResult

from loadray.errors import ScenarioError
from loadray.units import shorten

Query = ParsedResult
MAX_EXPRESSION = 4096  # characters of a JMESPath or regex (compile time grows with it)


def compile_query(expr: str, path: str) -> Query:
    """``jmespath.compile(expr)``, with errors naming the YAML ``path``."""
    if len(expr) > MAX_EXPRESSION:
        raise ScenarioError(path, f"JMESPath of {len(expr)} characters; at most {MAX_EXPRESSION}")
    try:
        return jmespath.compile(expr)
    except jmespath_errors.JMESPathError as exc:
        raise ScenarioError(path, f"bad JMESPath {shorten(expr)}: {_problem(exc)}") from None
    except RecursionError:  # the parser recurses once per level of nesting
        raise ScenarioError(path, f"bad JMESPath {shorten(expr)}: nested too deep") from None


def _problem(exc: jmespath_errors.JMESPathError) -> str:
    if isinstance(exc, jmespath_errors.IncompleteExpressionError):
        return "incomplete expression"
    if isinstance(exc, jmespath_errors.LexerError):
        return f"{exc.message} at column {exc.lex_position}"
    if isinstance(exc, jmespath_errors.ParseError):
        return f"{exc.msg} at column {exc.lex_position}"
    return str(exc).splitlines()[0]
