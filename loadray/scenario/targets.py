"""The ``target`` section: a base URL, ``builtin``, or ``{builtin: {...options}}``."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import SplitResult, urlsplit

from loadray.errors import ScenarioError
from loadray.fields import Fields, duration, fraction, integer, show
from loadray.scenario.model import Target
from loadray.target.options import TargetOptions
from loadray.units import shorten

BUILTIN = "builtin"
HTTP_URL = "an http:// or https:// URL with a host"
BUILTIN_KEYS = ("port", "latency", "jitter", "error_rate", "stall_every", "stall_for", "seed", "grpc_port")
MAX_SEED = 2**63 - 1

_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")
_HOST = re.compile(r"[A-Za-z0-9._~%!$&'()*+,;=-]+")  # RFC 3986 reg-name


def parse_target(value: Any, path: str = "target") -> Target:
    if value == BUILTIN:
        return Target(builtin=TargetOptions())
    if isinstance(value, str):
        return Target(url=parse_url(value, path))
    if not isinstance(value, dict):
        raise ScenarioError(
            path, f"must be a URL, 'builtin' or {{builtin: {{...}}}}, got {show(value)}"
        )
    fields = Fields(value, path, (BUILTIN,))
    return Target(builtin=fields.get(BUILTIN, parse_builtin))


def parse_url(value: str, path: str) -> str:
    """An ``http``/``https`` base URL with a host; returned without a trailing slash."""
    parts = http_url(value, path, f"must be {HTTP_URL}, or 'builtin'")
    if parts.query or parts.fragment:
        raise ScenarioError(path, f"must be a base URL without ?query or #fragment, got {value!r}")
    return value.strip().rstrip("/")


def http_url(value: str, path: str, expected: str) -> SplitResult:
    """``value`` split, if it is an ``http``/``https`` URL with a host and a valid port;
    otherwise ``expected`` (``must be ...``) with the reason. Spaces and control
    characters (a CR or LF would end a header line) are refused anywhere in it."""
    shown = shorten(value)
    if _SPACE_OR_CONTROL.search(value.strip()):
        raise ScenarioError(path, f"{expected}, got {shown} (spaces or control characters)")
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ScenarioError(path, f"{expected}, got {shown} (bad port)") from None
    if parts.scheme not in ("http", "https"):
        hint = f" (did you mean 'http://{value}'?)" if "://" not in value and len(value) < 60 else ""
        raise ScenarioError(path, f"{expected}, got {shown}{hint}")
    if not parts.hostname:
        raise ScenarioError(path, f"{expected}, got {shown} (no host)")
    if not _valid_host(parts.hostname):
        raise ScenarioError(path, f"{expected}, got {shown} (not a host name: {parts.hostname!r})")
    return parts


def _valid_host(host: str) -> bool:
    if ":" in host:  # an IPv6 literal, written in brackets
        try:
            ipaddress.IPv6Address(host.split("%")[0])
        except ValueError:
            return False
        return True
    return _HOST.fullmatch(host) is not None


def parse_builtin(value: Any, path: str) -> TargetOptions:
    fields = Fields(value, path, BUILTIN_KEYS)
    default = TargetOptions()
    return TargetOptions(
        port=fields.get("port", integer(ge=0, le=65535), default.port),
        latency_s=fields.get("latency", duration(positive=False), default.latency_s),
        jitter_s=fields.get("jitter", duration(positive=False), default.jitter_s),
        error_rate=fields.get("error_rate", fraction, default.error_rate),
        stall_every_s=fields.get("stall_every", duration(positive=False), default.stall_every_s),
        stall_for_s=fields.get("stall_for", duration(positive=False), default.stall_for_s),
        seed=fields.get("seed", integer(ge=0, le=MAX_SEED), default.seed),
        grpc_port=fields.get("grpc_port", integer(ge=1, le=65535), None),  # also the gRPC target, on this port
    )
