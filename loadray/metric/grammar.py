"""The one grammar of rules: ``"<metric> <op> <value>"`` -> :class:`Rule`, and the
breaker form ``"<metric> <op> <value> for <duration>"``.

A metric may be scoped to one step, ``"p99{step=login} < 200ms"`` (k6's
``http_req_duration{name:login}``): the rule is then judged over that step's rows only.
The step name runs to the brace before the operator (spaces around it dropped; quotes
optional), so a request's default name ``GET /items/{{ id }}`` can be written too.

Values carry the metric's unit: a duration with its unit for times (``500ms``,
``1.5s``; stored in ms), a percentage or a fraction for ``error_rate`` and
``flow_error_rate`` (stored as a fraction), requests/s for ``rate`` (an optional
``/s``), a whole number for counts. Errors are ``ValueError`` with one short line;
the scenario prefixes the YAML path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import cast

from loadray.metric.metric import METRICS, Unit, parse_metric
from loadray.metric.rule import Op, Rule
from loadray.units import finite, parse_duration, parse_fraction, shorten

RULE_EXAMPLE = "'p99 < 500ms'"
BREAKER_EXAMPLE = "'error_rate > 50% for 5s'"
_CONDITION = r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(\{.*?\})?\s*(<=|>=|<|>)\s*(\S.*?)"
_RULE = re.compile(rf"^{_CONDITION}\s*$")
_BREAKER = re.compile(rf"^{_CONDITION}\s+for\s+(\S.*?)\s*$", re.IGNORECASE)
_FOR = re.compile(r"\sfor(\s|$)", re.IGNORECASE)
_NUMBER = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
_COUNT = re.compile(r"^[0-9]+$")
_BARE_NUMBER = re.compile(r"^[0-9.]+$")
_SCOPE = re.compile(r"^\{\s*([A-Za-z_]+)\s*([=:])\s*(.*?)\s*\}$")
SCOPE_FORM = "{step=NAME}"


def parse_rule(expr: str) -> Rule:
    """``"p99 < 500ms"`` -> ``Rule(Metric("percentile", "latency", 99.0), "<", 500.0)``."""
    match = _RULE.match(expr)
    if not match:
        raise ValueError(
            f"expected '<metric> <op> <value>' with op one of < <= > >=, like {RULE_EXAMPLE}, got {expr!r}"
        )
    return _rule(*match.group(1, 2, 3, 4))


def with_step(expr: str, step: str) -> str:
    """``"p99 < 200ms"`` scoped to ``step``, in the one string form: ``"p99{step=login} < 200ms"``."""
    match = _RULE.match(expr)
    if not match:
        raise ValueError(f"not a rule: {expr!r}")
    return f"{match.group(1)}{{step={step}}} {match.group(3)} {match.group(4)}"


def parse_breaker_rule(expr: str) -> tuple[Rule, float]:
    """``"error_rate > 50% for 5s"`` -> the rule and how long it must hold (s)."""
    match = _BREAKER.match(expr)
    if not match:
        missing = "" if _FOR.search(expr) else " (the 'for <duration>' part is required)"
        raise ValueError(
            f"expected '<metric> <op> <value> for <duration>' with op one of "
            f"< <= > >=, like {BREAKER_EXAMPLE}, got {expr!r}{missing}"
        )
    return _rule(*match.group(1, 2, 3, 4)), _for(match.group(5))


def _rule(name: str, scope: str | None, op: str, text: str) -> Rule:
    metric = parse_metric(name)
    if metric is None:
        raise ValueError(f"unknown metric {name.lower()!r} (expected one of: {METRICS})")
    step = None if scope is None else _step(scope)
    if step is not None and metric.why_not_per_step is not None:
        raise ValueError(f"{metric.name} cannot be scoped to a step: {metric.why_not_per_step}")
    try:
        value = _READERS[metric.unit](text)
    except ValueError as exc:
        raise ValueError(f"{metric.name}: {exc}") from None
    return Rule(metric, cast(Op, op), value, step)  # the regex allows only an Op


def _step(scope: str) -> str:
    """``{step=login}`` -> ``login`` (quotes around the name optional)."""
    match = _SCOPE.match(scope)
    if not match or match.group(1).lower() != "step" or match.group(2) != "=":
        raise ValueError(f"the scope is written {SCOPE_FORM}, got {scope!r}")
    name = match.group(3)
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        name = name[1:-1]
    if not name:
        raise ValueError(f"{SCOPE_FORM} needs a step name, got {scope!r}")
    return name


def _for(text: str) -> float:
    if _BARE_NUMBER.match(text):
        raise ValueError(f"for: {text!r} needs a unit, e.g. {text}s")
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"for: {exc}") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"for: must be a duration > 0, got {text!r}")
    return seconds


def _milliseconds(text: str) -> float:
    if _NUMBER.match(text):
        raise ValueError(f"{text!r} needs a unit, e.g. {text}ms or {text}s")
    seconds = parse_duration(text)
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {text!r}")
    return round(seconds * 1000.0, 9)


def _fraction(text: str) -> float:
    value = parse_fraction(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"expected a value between 0% and 100%, got {text!r}")
    return value


def _rate(text: str) -> float:
    number = text[:-2].rstrip() if text.endswith("/s") else text
    if not _NUMBER.match(number):
        raise ValueError(f"expected requests/s like 500 or 500/s, got {shorten(text)}")
    return finite(float(number), "expected a finite rate")


def _count(text: str) -> float:
    if not _COUNT.match(text):
        raise ValueError(f"expected a whole number of requests, got {shorten(text)}")
    return finite(float(text), "expected a finite count")


_READERS: dict[Unit, Callable[[str], float]] = {
    "ms": _milliseconds,
    "fraction": _fraction,
    "req/s": _rate,
    "count": _count,
}
