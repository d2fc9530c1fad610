"""Regular expressions of a scenario, run with bounded work per response.

With ``google-re2`` (module ``re2``, a dependency) every pattern runs on RE2: linear
time in the text, so no pattern can stall a worker on a hostile body (``(a+)+$``
against ``aaaa…!`` is as quick as any). RE2 has no backreferences and no lookaround: a
pattern that uses them is refused at validation, naming its YAML path.

Without ``re2`` (it did not install), Python's ``re`` is guarded instead: patterns with
a known catastrophic shape — a quantified group that itself holds an unbounded
quantifier, like ``(a+)+`` or ``(a*b?)*`` — are refused at validation, and a search
reads at most :data:`GUARDED_INPUT_MAX` characters of the text.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Protocol

from loadray.errors import ScenarioError
from loadray.flow.query import MAX_EXPRESSION
from loadray.units import shorten

try:
    import re2
except ImportError:  # pragma: no cover - google-re2 is a dependency; the guard is the fallback
    re2 = None

if sys.version_info >= (3, 11):
    from re import _parser as _sre_parser  # type: ignore[attr-defined]
else:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parser

HAVE_RE2 = re2 is not None

GUARDED_INPUT_MAX = 64 * 1024  # characters a guarded ``re`` search reads
_UNBOUNDED = 1 << 16  # a repeat with a larger max is unbounded (sre's MAXREPEAT is huge)


class Pattern(Protocol):
    groups: int

    def search(self, text: str) -> Any: ...


def compile_regex(expr: str, path: str, use_re2: bool = HAVE_RE2) -> Pattern:
    """``expr`` compiled for bounded work (on RE2, else guarded ``re``); a bad or
    refused pattern names ``path``."""
    if len(expr) > MAX_EXPRESSION:
        raise ScenarioError(path, f"regex of {len(expr)} characters; at most {MAX_EXPRESSION}")
    if use_re2:
        return _compile_re2(expr, path)
    return _Guarded(_compile_re(expr, path))


def _compile_re2(expr: str, path: str) -> Pattern:
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(expr, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        try:
            re.compile(expr)
        except (re.error, RecursionError, OverflowError) as bad:
            raise ScenarioError(path, f"bad regex {shorten(expr)}: {bad}") from None
        raise ScenarioError(
            path, f"regex {shorten(expr)} uses what the linear-time engine (RE2) does not run "
            f"(backreferences, lookaround): {reason}"
        ) from None


def _compile_re(expr: str, path: str) -> re.Pattern[str]:
    try:
        pattern = re.compile(expr)
        parsed = _sre_parser.parse(expr)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ScenarioError(path, f"bad regex {shorten(expr)}: {exc}") from None
    if _nested_repeat(parsed, False):
        raise ScenarioError(
            path, f"regex {shorten(expr)} repeats a group that holds an unbounded repeat "
            "(like (a+)+): it can take exponential time; rewrite it without the nesting"
        )
    return pattern


def _nested_repeat(items: Any, inside: bool) -> bool:
    """Whether a parsed pattern has an unbounded repeat inside a repeat (``inside``:
    already within one)."""
    for op, arg in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            unbounded = high >= _UNBOUNDED
            if inside and unbounded:
                return True
            if _nested_repeat(sub, inside or (high > 1 and name != "POSSESSIVE_REPEAT")):
                return True
        elif name in ("SUBPATTERN", "ATOMIC_GROUP", "ASSERT", "ASSERT_NOT"):
            if _nested_repeat(arg[-1], inside):
                return True
        elif name == "BRANCH":
            if any(_nested_repeat(branch, inside) for branch in arg[1]):
                return True
        elif name == "GROUPREF_EXISTS":
            if any(b is not None and _nested_repeat(b, inside) for b in arg[1:]):
                return True
    return False


class _Guarded:
    """A Python ``re`` pattern that searches at most :data:`GUARDED_INPUT_MAX` characters."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self._pattern = pattern
        self.groups = pattern.groups

    def search(self, text: str) -> Any:
        return self._pattern.search(text[:GUARDED_INPUT_MAX])
