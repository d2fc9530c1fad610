"""Pass/fail thresholds: ``"<metric> <op> <value>"`` -> :class:`Threshold`.

Latency metrics (``pNN``, ``pNN.N``, ``max``, ``mean``, ``service_pNN``, ``service_max``)
take a duration with a unit and are stored in milliseconds; ``error_rate`` takes a
percentage or fraction (stored as a fraction); ``rate`` takes requests/s (optional
``/s``); ``dropped`` takes a count.

A list item is either the expression or a mapping that adds live behaviour:
``{threshold: "error_rate < 1%", abort_on_fail: true, delay: 5s}``. The condition
grammar (:data:`CONDITION`, :func:`condition`) is shared with ``abort_when`` breakers.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable

from loadray.errors import ScenarioError
from loadray.scenario.fields import Fields, boolean, duration, item_path, show
from loadray.scenario.model import Op, Threshold
from loadray.units import finite, parse_duration, parse_fraction, shorten

# metric, op, value text: a regex fragment, so that breakers can append " for <duration>".
CONDITION = r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|<|>)\s*(\S.*?)"
THRESHOLD_KEYS = ("threshold", "abort_on_fail", "delay")
_EXPR = re.compile(rf"^{CONDITION}\s*$")
_PERCENTILE = re.compile(r"^(service_)?p([0-9]{1,2}(?:\.[0-9]+)?)$")
_NUMBER = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)$")
_COUNT = re.compile(r"^[0-9]+$")
METRICS = "pNN (p50, p99, p99.9), max, mean, service_pNN, service_max, error_rate, flow_error_rate, rate, dropped"


def parse_thresholds(value: Any, path: str = "thresholds") -> tuple[Threshold, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ScenarioError(
            path, "must be a list of strings like 'p99 < 500ms' or mappings like "
            f"{{threshold: 'p99 < 500ms', abort_on_fail: true}}, got {show(value)}"
        )
    return tuple(threshold_item(item, item_path(path, i)) for i, item in enumerate(value))


def threshold_item(value: Any, path: str) -> Threshold:
    """A list item: the expression, or ``{threshold, abort_on_fail, delay}``."""
    if isinstance(value, str):
        return parse_threshold(value, path)
    if not isinstance(value, dict):
        raise ScenarioError(
            path, "must be a string like 'p99 < 500ms' or a mapping like "
            f"{{threshold: 'p99 < 500ms', abort_on_fail: true}}, got {show(value)}"
        )
    fields = Fields(value, path, THRESHOLD_KEYS)
    return replace(
        fields.get("threshold", parse_threshold),
        abort_on_fail=fields.get("abort_on_fail", boolean, False),
        delay_s=fields.get("delay", duration(positive=False), 0.0),
    )


def parse_threshold(expr: str, path: str) -> Threshold:
    if not isinstance(expr, str):
        raise ScenarioError(path, f"must be a string like 'p99 < 500ms', got {show(expr)}")
    match = _EXPR.match(expr)
    if not match:
        raise ScenarioError(
            path, f"expected '<metric> <op> <value>' with op one of < <= > >=, "
            f"like 'p99 < 500ms', got {expr!r}"
        )
    metric, op, value = condition(match, path)
    return Threshold(expr=expr, metric=metric, op=op, value=value)


def condition(match: re.Match[str], path: str) -> tuple[str, Op, float]:
    """``metric, op, value`` from a match of :data:`CONDITION` (groups 1-3), the value
    in the metric's summary unit."""
    metric, op, text = match.group(1).lower(), match.group(2), match.group(3)
    read = _reader(metric)
    if read is None:
        raise ScenarioError(path, f"unknown metric {metric!r} (expected one of: {METRICS})")
    try:
        value = read(text)
    except ValueError as exc:
        raise ScenarioError(path, f"{metric}: {exc}") from None
    return metric, op, value  # type: ignore[return-value]


def _reader(metric: str) -> Callable[[str], float] | None:
    if metric in ("max", "mean", "service_max"):
        return _milliseconds
    match = _PERCENTILE.match(metric)
    if match:
        return _milliseconds if 0 < float(match.group(2)) < 100 else None
    return {"error_rate": _fraction, "flow_error_rate": _fraction, "rate": _rate, "dropped": _count}.get(metric)


def _milliseconds(text: str) -> float:
    if _NUMBER.match(text):
        raise ValueError(f"{text!r} needs a unit, e.g. {text}ms or {text}s")
    return round(parse_duration(text) * 1000.0, 9)


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
