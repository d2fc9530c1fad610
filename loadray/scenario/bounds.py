"""Upper bounds (:mod:`.limits`) checked on the validated scenario, naming the YAML path.

The readers have already made every value finite and checked its lower bound; this
is the one place that compares a rate, a user count, a duration or a number of
attempts with the scenario's ``limits``, so the intended count of requests, every
wait and every timer stays within 64-bit and float range.
"""

from __future__ import annotations

from collections.abc import Iterator

from loadray.errors import ScenarioError
from loadray.fields import item_path, key_path
from loadray.flow.retry import RetryPolicy
from loadray.scenario.limits import DAY_S, Limits, hint
from loadray.scenario.model import Scenario, Step
from loadray.units import format_number

Duration = tuple[str, float]  # (YAML path, seconds)


def check_bounds(scenario: Scenario) -> None:
    limits = scenario.limits
    _check_levels(scenario, limits)
    for path, seconds in _durations(scenario):
        if seconds > limits.max_duration_s:
            raise ScenarioError(path, _over(_days(limits.max_duration_s), "max_duration", _days(seconds)))
    if scenario.duration_s > limits.max_duration_s:
        raise ScenarioError(
            "load.phases",
            f"the phases last {_days(scenario.duration_s)} in all; "
            + _over(_days(limits.max_duration_s), "max_duration"),
        )
    for path, policy in _retries(scenario):
        _check_retry(path, policy, limits)


def _check_levels(scenario: Scenario, limits: Limits) -> None:
    """Every phase's rate (open) or user count (closed), both ends of a ramp."""
    closed = scenario.model == "closed"
    key, bound = ("max_users", limits.max_users) if closed else ("max_rate", limits.max_rate)
    unit = "users" if closed else "req/s"
    phases = scenario.source.get("load", {}).get("phases", [])
    for phase in scenario.phases:
        level = max(phase.rate, phase.end_rate)
        if level <= bound:
            continue
        yaml_phase = phases[phase.source] if phase.source < len(phases) else {}
        where = item_path("load.phases", phase.source)
        if isinstance(yaml_phase, dict) and "step" in yaml_phase:
            raise ScenarioError(
                where, f"a level reaches {format_number(level)} {unit}; " + _over(f"{format_number(bound)} {unit}", key)
            )
        field = "to" if phase.to is not None and phase.to > phase.rate else ("users" if closed else "rate")
        raise ScenarioError(
            key_path(where, field), _over(f"{format_number(bound)} {unit}", key, format_number(level))
        )


def _durations(scenario: Scenario) -> Iterator[Duration]:
    phases = scenario.source.get("load", {}).get("phases", [])
    for phase in scenario.phases:
        yaml_phase = phases[phase.source] if phase.source < len(phases) else {}
        field = "every" if isinstance(yaml_phase, dict) and "every" in yaml_phase else "duration"
        yield key_path(item_path("load.phases", phase.source), field), phase.duration_s
    yield from _think(scenario)
    yield from (("http.connect_timeout", scenario.http.connect_timeout_s), ("http.timeout", scenario.http.timeout_s))
    yield "live.window", scenario.live_window_s
    for i, threshold in enumerate(scenario.thresholds):
        yield key_path(item_path("thresholds", i), "delay"), threshold.delay_s
    breakers = scenario.source.get("abort_when")
    for i, breaker in enumerate(scenario.breakers):
        yield (item_path("abort_when", i) if isinstance(breakers, list) else "abort_when"), breaker.for_s
    builtin = scenario.target.builtin
    if builtin is not None:
        for name in ("latency", "jitter", "stall_every", "stall_for"):
            yield f"target.builtin.{name}", getattr(builtin, f"{name}_s")
    for path, step in _steps(scenario):
        if step.timeout_s is not None:
            yield key_path(path, "timeout"), step.timeout_s


def _think(scenario: Scenario) -> Iterator[Duration]:
    think = scenario.think
    if think.kind == "uniform":
        yield from (("load.think.uniform[0]", think.a), ("load.think.uniform[1]", think.b))
    else:
        yield ("load.think.exponential" if think.kind == "exponential" else "load.think"), think.a


def _steps(scenario: Scenario) -> Iterator[tuple[str, Step]]:
    """Every step with its YAML path (``flows[0].steps[1]`` or ``requests[2]``)."""
    as_flows = "flows" in scenario.source
    for i, flow in enumerate(scenario.flows):
        for j, step in enumerate(flow.steps):
            yield (item_path(f"flows[{i}].steps", j) if as_flows else item_path("requests", i)), step


def _retries(scenario: Scenario) -> Iterator[tuple[str, RetryPolicy]]:
    """Each step's retry policy, named where it was written (the step's or the default)."""
    as_flows = "flows" in scenario.source
    items = scenario.source.get("flows" if as_flows else "requests", [])
    for i, flow in enumerate(scenario.flows):
        for j, step in enumerate(flow.steps):
            spec = items[i]["steps"][j] if as_flows else items[i]
            own = isinstance(spec, dict) and spec.get("retry") is not None
            path = key_path(item_path(f"flows[{i}].steps", j) if as_flows else item_path("requests", i), "retry")
            yield (path if own else "retry"), step.retry


def _check_retry(path: str, policy: RetryPolicy, limits: Limits) -> None:
    if policy.max_attempts > limits.max_attempts:
        raise ScenarioError(
            key_path(path, "max_attempts"),
            _over(str(limits.max_attempts), "max_attempts", str(policy.max_attempts)),
        )
    for name, seconds in (("base", policy.base_s), ("cap", policy.cap_s)):
        if seconds > limits.max_duration_s:
            raise ScenarioError(
                f"{path}.backoff.{name}", _over(_days(limits.max_duration_s), "max_duration", _days(seconds))
            )


def _over(bound: str, key: str, got: str | None = None) -> str:
    tail = f", got {got}" if got is not None else ""
    return f"must be <= {bound} ({hint(key)}){tail}"


def _days(seconds: float) -> str:
    if seconds >= DAY_S and seconds % DAY_S == 0:
        return f"{format_number(seconds / DAY_S)}d"
    return f"{format_number(seconds)}s"
