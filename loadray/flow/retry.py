"""Retry policy: which outcomes are retried, and how long to wait before the next attempt.

Attempts are numbered from 1. After attempt ``n`` fails, the wait is
``d = min(cap, base * 2**(n-1))`` with jitter ``full`` = uniform(0, d),
``equal`` = d/2 + uniform(0, d/2), ``none`` = d. Pure functions; the caller owns
the clock and the seeded ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadray import kinds
from loadray.errors import ScenarioError
from loadray.fields import Fields, choice, duration, integer, one_or_many

KEYS = ("max_attempts", "backoff", "on_status", "on_errors")
BACKOFF_KEYS = ("base", "cap", "jitter")
JITTERS = ("full", "equal", "none")
RETRYABLE_ERRORS = (
    kinds.CONNECT_REFUSED,
    kinds.CONNECT_TIMEOUT,
    kinds.CONNECT_ERROR,
    kinds.TIMEOUT,
    kinds.RESET,
    kinds.GOAWAY,
    kinds.PROTOCOL,
    kinds.TLS,
    kinds.HTTP_4XX,
    kinds.HTTP_5XX,
    kinds.CHECK,
)
GRPC_RETRYABLE = frozenset(kind for kind in kinds.GRPC_KINDS if kind)  # grpc_unavailable...

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BASE_S = 0.1
DEFAULT_CAP_S = 10.0
DEFAULT_JITTER = "full"
DEFAULT_ON_STATUS = frozenset({502, 503, 504})
DEFAULT_ON_ERRORS = frozenset(
    {kinds.CONNECT_REFUSED, kinds.CONNECT_TIMEOUT, kinds.CONNECT_ERROR, kinds.RESET, kinds.GOAWAY, kinds.TIMEOUT}
)
_MAX_EXPONENT = 1000  # 2.0**1024 overflows; by then every wait is the cap anyway
MAX_WAIT_S = 86_400.0  # a longer backoff waits this long (a run stop ends the wait anyway)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S
    jitter: str = DEFAULT_JITTER
    on_status: frozenset[int] = DEFAULT_ON_STATUS
    on_errors: frozenset[str] = DEFAULT_ON_ERRORS


NO_RETRY = RetryPolicy(max_attempts=1)


def compile_retry(spec: Any, path: str) -> RetryPolicy:
    """``{max_attempts, backoff: {base, cap, jitter}, on_status, on_errors}``; None -> NO_RETRY."""
    if spec is None:
        return NO_RETRY
    fields = Fields(spec, path, KEYS)
    backoff = Fields(fields.value.get("backoff"), fields.path_of("backoff"), BACKOFF_KEYS)
    base = backoff.get("base", _SECONDS, DEFAULT_BASE_S)
    cap = backoff.get("cap", _SECONDS, max(DEFAULT_CAP_S, base))
    if cap < base:
        raise ScenarioError(backoff.path_of("cap"), f"must be >= base ({base:g}s), got {cap:g}s")
    return RetryPolicy(
        max_attempts=fields.get("max_attempts", integer(ge=1), DEFAULT_MAX_ATTEMPTS),
        base_s=base,
        cap_s=cap,
        jitter=backoff.get("jitter", choice(*JITTERS), DEFAULT_JITTER),
        on_status=_set_of(fields.value.get("on_status"), fields.path_of("on_status"), DEFAULT_ON_STATUS, _status),
        on_errors=_set_of(fields.value.get("on_errors"), fields.path_of("on_errors"), DEFAULT_ON_ERRORS, _error_kind),
    )


def should_retry(policy: RetryPolicy, attempt: int, status: int, error_kind: str | None) -> bool:
    """Whether attempt number ``attempt`` (from 1), which ended so, gets another try."""
    if attempt >= policy.max_attempts:
        return False
    return status in policy.on_status or error_kind in policy.on_errors


def backoff_s(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """Seconds to wait after attempt number ``attempt`` (from 1) before the next one."""
    delay = min(policy.cap_s, policy.base_s * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
    if policy.jitter == "full":
        return rng.uniform(0.0, delay)
    if policy.jitter == "equal":
        return delay / 2 + rng.uniform(0.0, delay / 2)
    return delay


def backoff_ns(policy: RetryPolicy, attempt: int, rng: random.Random) -> int:
    """:func:`backoff_s` in nanoseconds, at most :data:`MAX_WAIT_S` (a wait of 1e300 s
    is finite as a float but not as nanoseconds)."""
    return int(min(backoff_s(policy, attempt, rng), MAX_WAIT_S) * 1e9)


_status = integer(ge=100, le=599)
_http_kind = choice(*RETRYABLE_ERRORS)


def _error_kind(value: Any, path: str) -> str:
    """A retryable kind: an HTTP/transport one, or a gRPC call's ``grpc_<code>``."""
    return value if isinstance(value, str) and value in GRPC_RETRYABLE else _http_kind(value, path)
_SECONDS = duration(positive=False)


def _set_of(spec: Any, path: str, default: frozenset, read: Callable[[Any, str], Any]) -> frozenset:
    """A list read item by item (a single item is a list of one); absent -> ``default``."""
    if spec is None:
        return default
    if spec == []:
        return frozenset()
    return frozenset(read(item, where) for item, where in one_or_many(spec, path))
