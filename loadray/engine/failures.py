"""Failures -> error kinds: the one place where transport failures become row values.

Every failure a transport sees is mapped here to one of a small fixed set of kinds
(their names live in the leaf module :mod:`loadray.kinds`);
rows carry the kind in their ``error`` column and, when an exception caused it, the
exception's type and message in ``error_detail`` (:func:`error_detail`). Nothing else in
loadray inspects third-party exception types. An exception that is a defect rather
than a network failure (a ``TypeError``, a ``KeyError``...) is ``internal``: it is
recorded, never hidden behind a network kind.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

from loadray.errors import LoadrayError
from loadray.kinds import (
    CONNECT_ERROR,
    CONNECT_REFUSED,
    CONNECT_TIMEOUT,
    HTTP_4XX,
    HTTP_5XX,
    INTERNAL,
    PROTOCOL,
    RESET,
    TIMEOUT,
    TLS,
)

DETAIL_MAX = 200  # characters of an ``error_detail`` (the schema's bound)


class RefusedResponse(LoadrayError):
    """A response the client refuses although it parses (HTTP/1.1: a header block over
    its limit, :mod:`loadray.engine.http1.limits`): kind ``protocol``; the message says why."""


def status_error(status: int) -> str | None:
    """Error kind of an HTTP status: None below 400."""
    if status < 400:
        return None
    return HTTP_5XX if status >= 500 else HTTP_4XX


def error_detail(exc: BaseException, where: str = "") -> str:
    """``[where: ]Type: first line of the message``, at most :data:`DETAIL_MAX` characters."""
    message = str(exc).strip().split("\n", 1)[0]
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if where:
        text = f"{where}: {text}"
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 3] + "..."


# -- exception -> kind: the one mapping of third-party failures -----------------------

_REFUSED_ERRNOS = frozenset({errno.ECONNREFUSED})
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError)
# defects, not network failures: recorded as ``internal``
_DEFECTS = (TypeError, AttributeError, LookupError, NameError, AssertionError, ArithmeticError, RecursionError, MemoryError)


def error_kind(exc: BaseException, connecting: bool = False) -> str:
    """The error kind of a failure seen by a transport.

    ``connecting`` says whether the failure happened before the connection was
    established (it turns a timeout into ``connect_timeout`` and an unknown OS error
    into ``connect_error`` rather than ``reset``). Never raises.
    """
    module = type(exc).__module__
    if isinstance(exc, _DEFECTS):
        return INTERNAL
    if isinstance(exc, RefusedResponse):
        return PROTOCOL
    if module.startswith("aiohttp"):
        return _aiohttp_kind(exc, connecting)
    if module.startswith("httptools"):
        return PROTOCOL
    return _builtin_kind(exc, connecting)


def _builtin_kind(exc: BaseException, connecting: bool) -> str:
    if isinstance(exc, ssl.SSLError):  # also ssl.CertificateError
        return TLS
    if isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, OSError) and exc.errno in _REFUSED_ERRNOS
    ):
        return CONNECT_REFUSED
    if isinstance(exc, _TIMEOUTS):
        return CONNECT_TIMEOUT if connecting else TIMEOUT
    if isinstance(exc, socket.gaierror):
        return CONNECT_ERROR
    if isinstance(exc, (OSError, EOFError)):  # reset, aborted, broken pipe, ...
        return CONNECT_ERROR if connecting else RESET
    return CONNECT_ERROR if connecting else PROTOCOL


def _aiohttp_kind(exc: BaseException, connecting: bool) -> str:
    import aiohttp  # already imported: ``exc`` comes from it

    if isinstance(exc, (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch)):
        return TLS
    connection_timeout = getattr(aiohttp, "ConnectionTimeoutError", None)  # aiohttp>=3.10
    if connection_timeout is not None and isinstance(exc, connection_timeout):
        return CONNECT_TIMEOUT
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return CONNECT_TIMEOUT if connecting else TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        if isinstance(cause, ssl.SSLError):
            return TLS
        if isinstance(cause, ConnectionRefusedError) or cause.errno in _REFUSED_ERRNOS:
            return CONNECT_REFUSED
        if isinstance(cause, _TIMEOUTS):
            return CONNECT_TIMEOUT
        return CONNECT_ERROR
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return RESET
    if isinstance(exc, aiohttp.ClientPayloadError):
        # "Response payload is not completed": the peer closed mid-body.
        return RESET if "not completed" in str(exc) else PROTOCOL
    if isinstance(exc, aiohttp.ClientResponseError):
        return PROTOCOL
    if isinstance(exc, aiohttp.InvalidURL):
        return CONNECT_ERROR
    if isinstance(exc, aiohttp.ClientOSError):
        return _builtin_kind(exc, connecting)
    if isinstance(exc, aiohttp.ClientConnectionError):
        return CONNECT_ERROR if connecting else RESET
    return CONNECT_ERROR if connecting else PROTOCOL
