"""Request bytes: the one serializer and header policy of every HTTP/1.1 request the
core writes (the open-model fast path builds its bytes once per request, the flow
client per step).

- request line ``METHOD target HTTP/1.1``: the method must be a token; the target
  (path and query, never the fragment) is percent-encoded when it holds anything but
  printable ASCII without spaces;
- then ``Host`` (the URL's host[:port]), ``User-Agent: loadray`` and, with
  ``compression``, ``Accept-Encoding: gzip, deflate`` — each unless the request sets
  it (any case) — then the request's own headers in their order, ``Content-Length``
  when there is a body (or the method carries one) and the request sets none,
  ``Connection: close`` without keep-alive, and the session's cookies last (merged
  into the request's own ``Cookie`` header when it has one);
- a header name must be a token; a CR, LF or NUL anywhere in the head is refused
  (:class:`HeaderError`: no request smuggling through a template); the head is
  encoded as UTF-8, as aiohttp (the fallback) does;
- ``Expect``, ``Upgrade`` and ``Transfer-Encoding`` are framing the core does not
  speak (:data:`UNSPOKEN_HEADERS`): requests that set them go to aiohttp.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from loadray.engine.transport import ACCEPT_ENCODING, USER_AGENT

__all__ = [
    "BODY_METHODS",
    "HeaderError",
    "IDEMPOTENT",
    "UNSPOKEN_HEADERS",
    "cookie_line",
    "endpoint",
    "head_parts",
    "sets_cookie",
    "split_http_url",
]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Retried on a fresh connection when a reused keep-alive connection turns out to have
# been closed by the server before any byte of the response came back.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
UNSPOKEN_HEADERS = frozenset({"expect", "upgrade", "transfer-encoding"})
PATH_SAFE = "/:@!$&'()*+,;=?%~-._"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_GOOD: set[str] = set()  # method and header names seen valid (scenario names: a few)
_GOOD_MAX = 4096
_USER_AGENT_LINE = f"User-Agent: {USER_AGENT}\r\n"
_ACCEPT_ENCODING_LINE = f"Accept-Encoding: {ACCEPT_ENCODING}\r\n"


class HeaderError(ValueError):
    """A request that cannot be written as it is (bad method, header name or value)."""


def endpoint(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an absolute URL (port defaulted from the scheme)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80)


def split_http_url(url: str) -> tuple[str, str] | None:
    """``(netloc, target)`` of a plain ``http://`` URL (None for any other scheme):
    the target is the path and query, encoded for the request line. A host holding a
    CR, LF or NUL raises :class:`HeaderError`."""
    if url[:7].lower() != "http://":
        return None
    rest = url[7:]
    end = len(rest)
    for sep in "/?#":
        i = rest.find(sep)
        if 0 <= i < end:
            end = i
    target = rest[end:].partition("#")[0] or "/"
    if target[0] == "?":
        target = "/" + target
    if not (target.isascii() and target.isprintable()) or " " in target:
        target = quote(target, safe=PATH_SAFE)
    netloc = rest[:end]
    if not netloc.isprintable():
        raise HeaderError(f"bad host {netloc!r}")
    return netloc, target


def _check_token(name: str, what: str) -> None:
    if name not in _GOOD:
        if not _TOKEN.fullmatch(name):
            raise HeaderError(f"bad {what} {name!r}")
        if len(_GOOD) < _GOOD_MAX:
            _GOOD.add(name)


def head_parts(
    method: str,
    target: str,
    netloc: str,
    headers: tuple[tuple[str, str], ...],
    body: bytes | None,
    keepalive: bool,
    compression: bool,
    cookie: str = "",
) -> tuple[bytes, bytes]:
    """``(before, after)``: the request line, the default headers and the request's own
    header lines; then the Content-Length, Connection and Cookie lines (each line ending
    in CRLF). One more header line may go between the two (a trace header); the blank
    line and the body follow. Raises :class:`HeaderError`. ``netloc`` is the URL's (it
    never holds a CR, LF or NUL: :func:`split_http_url` refuses those)."""
    if method not in _GOOD:
        _check_token(method, "method")
    for name, _ in headers:
        if name not in _GOOD:
            _check_token(name, "header")
    own = "".join([f"{name}: {value}\r\n" for name, value in headers])
    n = len(headers)
    if own.count("\n") != n or own.count("\r") != n or "\0" in own:
        raise HeaderError(f"bad header {_culprit(headers)!r}: CR, LF or NUL inside")
    low = "\n" + own.lower()  # "\nname:" starts a line: the request sets header ``name``
    if cookie and "\ncookie:" in low:  # merged into the request's own
        own = "".join([f"{name}: {value}; {cookie}\r\n" if name.lower() == "cookie" else f"{name}: {value}\r\n"
                       for name, value in headers])
        cookie = ""
    head = f"{method} {target} HTTP/1.1\r\n"
    if "\nhost:" not in low:
        head += f"Host: {netloc.rpartition('@')[2]}\r\n"
    if "\nuser-agent:" not in low:
        head += _USER_AGENT_LINE
    if compression and "\naccept-encoding:" not in low:
        head += _ACCEPT_ENCODING_LINE
    after = ""
    if (body is not None or method in BODY_METHODS) and "\ncontent-length:" not in low:
        after = f"Content-Length: {len(body or b'')}\r\n"
    if not keepalive and "\nconnection:" not in low:
        after += "Connection: close\r\n"
    return _encode(head + own), _encode(after) + cookie_line(cookie)


def cookie_line(cookie: str) -> bytes:
    """The ``Cookie`` header line carrying ``cookie`` (b"" when it is empty)."""
    if not cookie:
        return b""
    if any(c in cookie for c in "\r\n\0"):
        raise HeaderError("bad header 'Cookie': CR, LF or NUL inside")
    return _encode(f"Cookie: {cookie}\r\n")


def sets_cookie(headers: tuple[tuple[str, str], ...]) -> bool:
    """Whether the request has its own ``Cookie`` header (the session's merges into it)."""
    return any(name.lower() == "cookie" for name, _ in headers)


def _culprit(headers: tuple[tuple[str, str], ...]) -> str:
    """The name of the first header holding a CR, LF or NUL (for the message)."""
    return next((name for name, value in headers if any(c in value for c in "\r\n\0")), "")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")  # UTF-8, as aiohttp; lone surrogates kept
