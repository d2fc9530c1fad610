"""Retry policy: what is retried, and exact backoff bounds under a seeded rng."""

from __future__ import annotations

import random

import pytest

from loadray.errors import ScenarioError
from loadray.flow import NO_RETRY, RetryPolicy, backoff_s, compile_retry, should_retry

POLICY = RetryPolicy(max_attempts=3, base_s=0.1, cap_s=1.0, jitter="none",
                     on_status=frozenset({503}), on_errors=frozenset({"timeout"}))

SHOULD_RETRY = [
    (1, 503, "http_5xx", True),
    (2, 503, "http_5xx", True),
    (3, 503, "http_5xx", False),  # the last attempt
    (1, 500, "http_5xx", False),
    (1, 0, "timeout", True),
    (1, 0, "reset", False),
    (1, 200, None, False),
    (2, 0, "timeout", True),
    (3, 0, "timeout", False),
]


@pytest.mark.parametrize(("attempt", "status", "kind", "expected"), SHOULD_RETRY)
def test_should_retry(attempt: int, status: int, kind: str | None, expected: bool) -> None:
    assert should_retry(POLICY, attempt, status, kind) is expected


def test_no_retry_never_retries() -> None:
    assert not should_retry(NO_RETRY, 1, 503, "timeout")


DELAYS = [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (6, 1.0), (10_000, 1.0)]


@pytest.mark.parametrize(("attempt", "delay"), DELAYS)
def test_exponential_delay_is_capped(attempt: int, delay: float) -> None:
    assert backoff_s(POLICY, attempt, random.Random(0)) == pytest.approx(delay)


JITTER = [
    # (jitter, attempt, low, high): bounds of every draw
    ("full", 1, 0.0, 0.1),
    ("full", 3, 0.0, 0.4),
    ("full", 9, 0.0, 1.0),
    ("equal", 1, 0.05, 0.1),
    ("equal", 3, 0.2, 0.4),
    ("equal", 9, 0.5, 1.0),
    ("none", 2, 0.2, 0.2),
]


@pytest.mark.parametrize(("jitter", "attempt", "low", "high"), JITTER)
def test_jitter_bounds_over_many_draws(jitter: str, attempt: int, low: float, high: float) -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=1.0, jitter=jitter)
    rng = random.Random(1234)
    draws = [backoff_s(policy, attempt, rng) for _ in range(10_000)]
    assert low <= min(draws) and max(draws) <= high
    span = high - low
    assert min(draws) < low + 0.01 * span + 1e-12 and max(draws) > high - 0.01 * span - 1e-12


def test_full_jitter_is_a_seeded_uniform_draw() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=1.0, jitter="full")
    twin = random.Random(5)
    rng = random.Random(5)
    assert [backoff_s(policy, 3, rng) for _ in range(5)] == [twin.uniform(0.0, 0.4) for _ in range(5)]


COMPILE = [
    (None, NO_RETRY),
    ({}, RetryPolicy()),
    ({"max_attempts": 4, "backoff": {"base": "50ms", "cap": "2s", "jitter": "equal"},
      "on_status": [503, 429], "on_errors": ["timeout", "reset"]},
     RetryPolicy(4, 0.05, 2.0, "equal", frozenset({503, 429}), frozenset({"timeout", "reset"}))),
    ({"backoff": {"base": 20}}, RetryPolicy(base_s=20.0, cap_s=20.0)),
    ({"on_status": 503, "on_errors": []}, RetryPolicy(on_status=frozenset({503}), on_errors=frozenset())),
]


@pytest.mark.parametrize(("spec", "policy"), COMPILE)
def test_compile_retry(spec: object, policy: RetryPolicy) -> None:
    assert compile_retry(spec, "retry") == policy


def test_defaults() -> None:
    assert RetryPolicy() == RetryPolicy(
        3, 0.1, 10.0, "full", frozenset({502, 503, 504}),
        frozenset({"connect_refused", "connect_timeout", "connect_error", "reset", "goaway", "timeout"}),
    )


BAD = [
    ({"max_attempts": 0}, "flow[2].retry.max_attempts: must be >= 1, got 0"),
    ({"max_attempts": "3"}, "flow[2].retry.max_attempts: must be an integer, got '3'"),
    ({"backoff": {"base": "1s", "cap": "500ms"}}, "flow[2].retry.backoff.cap: must be >= base (1s), got 0.5s"),
    ({"backoff": {"base": "soon"}},
     "flow[2].retry.backoff.base: expected a duration like 250ms, 10s or 2m, got 'soon'"),
    ({"backoff": {"base": -1}}, "flow[2].retry.backoff.base: must be >= 0, got -1"),
    ({"backoff": {"jitter": "half"}}, "flow[2].retry.backoff.jitter: must be one of: full, equal, none, got 'half'"),
    ({"backoff": {"factor": 2}}, "flow[2].retry.backoff: unknown key 'factor' (expected one of: base, cap, jitter)"),
    ({"on_status": [503, 99]}, "flow[2].retry.on_status[1]: must be >= 100, got 99"),
    ({"on_errors": ["timeout", "boom"]},
     ("flow[2].retry.on_errors[1]: must be one of: connect_refused, connect_timeout, connect_error, "
      "timeout, reset, goaway, protocol, tls, http_4xx, http_5xx, check, got 'boom'")),
    ({"attempts": 3}, "flow[2].retry: unknown key 'attempts' (expected one of: max_attempts, backoff, on_status, on_errors)"),
]


@pytest.mark.parametrize(("spec", "message"), BAD)
def test_bad_retry_names_the_yaml_path(spec: object, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        compile_retry(spec, "flow[2].retry")
    assert str(caught.value) == message


def test_flow_fields_read_a_whole_env_reference_like_every_other_field() -> None:
    """The flow specs use the scenario's one set of readers (loadray.fields): a number
    from ``${VAR}`` is a number there too."""
    from loadray.env_text import EnvText

    policy = compile_retry({"max_attempts": EnvText("3"), "backoff": {"base": EnvText("0.5")}}, "flow[0].retry")
    assert (policy.max_attempts, policy.base_s) == (3, 0.5)
