"""The ``http`` section (timeouts, in-flight cap, keep-alive, headers, TLS, redirects,
compression, max_body) and the header mapping and size readers shared with requests."""

from __future__ import annotations

import re
from typing import Any, cast

from loadray.errors import ScenarioError
from loadray.fields import (
    Fields,
    boolean,
    choice,
    duration,
    existing_file,
    integer,
    key_path,
    show,
)
from loadray.scenario.http_version import MAX_CONNECTIONS, read_version
from loadray.scenario.model import HttpSettings, TlsSettings, WhenFull
from loadray.units import parse_size

HTTP_KEYS = (
    "connect_timeout", "timeout", "max_in_flight", "keepalive", "when_full", "headers", "tls",
    "redirects", "compression", "max_body", "version", "connections",
)
TLS_KEYS = ("verify", "ca", "cert", "key")
WHEN_FULL = ("queue", "drop")
MAX_IN_FLIGHT = 1_000_000
MAX_REDIRECTS = 100
MAX_BODY_LIMIT = 1 << 30  # the largest max_body: 1 GiB

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field-name
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control chars (tab allowed)


def parse_http(value: Any, path: str = "http", base_dir: str = ".") -> HttpSettings:
    """``tls`` file paths are resolved against ``base_dir`` (the scenario file's folder)."""
    fields = Fields(value, path, HTTP_KEYS)
    d = HttpSettings()
    return HttpSettings(
        connect_timeout_s=fields.get("connect_timeout", duration(), d.connect_timeout_s),
        timeout_s=fields.get("timeout", duration(), d.timeout_s),
        max_in_flight=fields.get("max_in_flight", integer(ge=1, le=MAX_IN_FLIGHT), d.max_in_flight),
        keepalive=fields.get("keepalive", boolean, d.keepalive),
        when_full=cast(WhenFull, fields.get("when_full", choice(*WHEN_FULL), d.when_full)),
        headers=fields.get("headers", headers, d.headers),
        tls=fields.get("tls", lambda v, p: parse_tls(v, p, base_dir), d.tls),
        redirects=fields.get("redirects", integer(ge=0, le=MAX_REDIRECTS), d.redirects),
        compression=fields.get("compression", boolean, d.compression),
        max_body=fields.get("max_body", body_size, d.max_body),
        version=fields.get("version", read_version, d.version),
        connections=fields.get("connections", integer(ge=1, le=MAX_CONNECTIONS), d.connections),
    )


def body_size(value: Any, path: str) -> int:
    """``max_body``: bytes (``1MiB``, ``64KiB``, ``4096``), from 0 to 1 GiB."""
    try:
        size = parse_size(value)
    except ValueError as exc:
        raise ScenarioError(path, str(exc)) from None
    if not 0 <= size <= MAX_BODY_LIMIT:
        raise ScenarioError(path, f"must be between 0 and 1GiB, got {show(value)}")
    return size


def parse_tls(value: Any, path: str, base_dir: str) -> TlsSettings:
    fields = Fields(value, path, TLS_KEYS)
    pem = existing_file(base_dir)
    if "key" in fields and "cert" not in fields:
        raise ScenarioError(fields.path_of("key"), "needs 'cert' (the client certificate it belongs to)")
    return TlsSettings(
        verify=fields.get("verify", boolean, True),
        ca_file=fields.get("ca", pem, None),
        cert_file=fields.get("cert", pem, None),
        key_file=fields.get("key", pem, None),
    )


def headers(value: Any, path: str) -> tuple[tuple[str, str], ...]:
    """A ``name: value`` mapping of strings, kept in order."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ScenarioError(path, f"must be a mapping of header names to values, got {show(value)}")
    return tuple(_header(name, val, key_path(path, name)) for name, val in value.items())


def _header(name: Any, value: Any, path: str) -> tuple[str, str]:
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ScenarioError(path, f"not a valid header name: {show(name)}")
    if not isinstance(value, str):
        raise ScenarioError(path, f"must be a string, got {show(value)} (quote it)")
    if _BAD_VALUE.search(value):
        raise ScenarioError(path, "must not contain line breaks or control characters")
    latin1(value, path)
    return name, value


def latin1(value: str, path: str) -> None:
    """HTTP header values are bytes: text must be Latin-1 to be sent as written (the
    fast transport encodes it so). Anything else is refused here, not after Ray starts."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as exc:
        char = value[exc.start]
        raise ScenarioError(
            path, f"must be Latin-1 text: {char!r} (U+{ord(char):04X}) at position {exc.start} "
            "cannot be sent in an HTTP header; percent-encode it"
        ) from None
