"""JMESPath expressions compiled once; a bad one is a one-line ScenarioError."""

from __future__ import annotations

from typing import TypeAlias

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath.parser import ParsedResult

from loadray.errors import ScenarioError
from loadray.units import shorten

Query: TypeAlias = ParsedResult
MAX_EXPRESSION = 4096  # characters of a JMESPath or regex (compile time grows with it)
MAX_NESTING = 64  # brackets inside brackets: the parser and the search recurse per level
_OPEN, _CLOSE, _QUOTES = "([{", ")]}", "'\"`"


def compile_query(expr: str, path: str) -> Query:
    """``jmespath.compile(expr)``, with errors naming the YAML ``path``."""
    if len(expr) > MAX_EXPRESSION:
        raise ScenarioError(path, f"JMESPath of {len(expr)} characters; at most {MAX_EXPRESSION}")
    if nesting(expr) > MAX_NESTING:  # whatever the interpreter's recursion limit is today
        raise ScenarioError(path, f"bad JMESPath {shorten(expr)}: nested too deep (more than {MAX_NESTING} levels)")
    try:
        return jmespath.compile(expr)
    except jmespath_errors.JMESPathError as exc:
        raise ScenarioError(path, f"bad JMESPath {shorten(expr)}: {_problem(exc)}") from None
    except RecursionError:  # the parser recurses once per level of nesting
        raise ScenarioError(path, f"bad JMESPath {shorten(expr)}: nested too deep") from None


def nesting(expr: str) -> int:
    """The deepest nesting of brackets in ``expr``, outside quoted literals."""
    depth = deepest = 0
    quote = None
    for c in expr:
        if quote is not None:
            quote = None if c == quote else quote
        elif c in _QUOTES:
            quote = c
        elif c in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif c in _CLOSE:
            depth -= 1
    return deepest


def _problem(exc: jmespath_errors.JMESPathError) -> str:
    if isinstance(exc, jmespath_errors.IncompleteExpressionError):
        return "incomplete expression"
    if isinstance(exc, jmespath_errors.LexerError):
        return f"{exc.message} at column {exc.lex_position}"
    if isinstance(exc, jmespath_errors.ParseError):
        return f"{exc.msg} at column {exc.lex_position}"
    return str(exc).splitlines()[0]
