"""Before the barrier: can the driver open a TCP connection to each target?

The targets are the scenario's ``target`` URL and every absolute step URL whose host
is written literally (not a ``{{ template }}``), at most :data:`MAX_TARGETS`. Each gets
one TCP connect, at most ``min(http.connect_timeout, PREFLIGHT_TIMEOUT_S)``, all at
once. ``--preflight``:

- ``warn`` (the default): one line on stderr per target that cannot be reached, and
  the run goes on (on a cluster the workers may reach what the driver cannot);
- ``strict``: the run does not start: :class:`TargetError`, exit 1 (the target is
  down: an environment failure, not a usage error);
- ``off``: no check.

The URLs shown are redacted (userinfo, secret parameters, environment secrets).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from loadray.errors import TargetError
from loadray.redaction import redact_text
from loadray.scenario.model import Scenario

__all__ = ["MAX_TARGETS", "MODES", "PREFLIGHT_TIMEOUT_S", "Endpoint", "check_targets", "endpoints", "preflight"]

MODES = ("warn", "strict", "off")
MAX_TARGETS = 16
PREFLIGHT_TIMEOUT_S = 3.0
_PORTS = {"http": 80, "https": 443}

Connect = Callable[[tuple[str, int], float], socket.socket]


@dataclass(frozen=True)
class Endpoint:
    url: str  # as shown (redacted)
    host: str
    port: int


def endpoints(scenario: Scenario) -> list[Endpoint]:
    """The distinct ``host:port`` the scenario sends to, as far as they are literal."""
    urls = [scenario.target.url] if scenario.target.url else []
    urls += [s.path.source for f in scenario.flows for s in f.steps if "://" in s.path.source[:10]]
    builtin = scenario.target.builtin
    started = f":{builtin.grpc_port}" if builtin is not None and builtin.grpc_port else None  # not up yet
    addresses = [(s.grpc.address, s.grpc.tls) for f in scenario.flows for s in f.steps if s.grpc and s.grpc.address]
    urls += [f"{'grpcs' if tls else 'grpc'}://{a}" for a, tls in addresses if not (started and a.endswith(started))]
    found: dict[tuple[str, int], Endpoint] = {}
    for url in urls:
        point = _endpoint(url, scenario.secrets)
        if point is not None and (point.host, point.port) not in found and len(found) < MAX_TARGETS:
            found[(point.host, point.port)] = point
    return list(found.values())


def _endpoint(url: str, secrets: Iterable[str]) -> Endpoint | None:
    try:
        parts = urlsplit(url)
        port = parts.port or _PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None or "{{" in parts.netloc:
        return None
    shown = redact_text(f"{parts.scheme}://{parts.netloc}", secrets)
    return Endpoint(shown, parts.hostname, port)


def check_targets(points: list[Endpoint], timeout_s: float, connect: Connect = socket.create_connection) -> list[str]:
    """One line per endpoint that takes no TCP connection within ``timeout_s``."""
    if not points:
        return []
    with ThreadPoolExecutor(min(len(points), MAX_TARGETS)) as pool:
        answers = list(pool.map(lambda p: _problem(p, timeout_s, connect), points))
    return [line for line in answers if line]


def _problem(point: Endpoint, timeout_s: float, connect: Connect) -> str | None:
    try:
        connect((point.host, point.port), timeout_s).close()
    except TimeoutError:
        return f"{point.url}: no answer within {timeout_s:g} s"
    except ConnectionRefusedError:
        return f"{point.url}: connection refused (is the target up?)"
    except OSError as exc:
        return f"{point.url}: cannot connect: {exc.strerror or exc}"
    return None


def preflight(scenario: Scenario, mode: str, warn: Callable[[str], None],
              connect: Connect = socket.create_connection) -> None:
    """Check the targets (see the module docstring); warn or raise."""
    if mode == "off":
        return
    timeout_s = min(scenario.http.connect_timeout_s, PREFLIGHT_TIMEOUT_S)
    problems = check_targets(endpoints(scenario), timeout_s, connect)
    if problems and mode == "strict":
        raise TargetError(f"preflight: {problems[0]}" + (f" (and {len(problems) - 1} more)" if problems[1:] else "")
                          + "; not started (--preflight strict)")
    for line in problems:
        warn(f"warning: preflight: {line}; the run goes on (--preflight strict refuses to start)")
