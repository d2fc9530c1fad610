"""The one exception -> error-kind mapping (loadray.engine.errors.error_kind)."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

import aiohttp
import httptools
import pytest
from aiohttp.client_reqrep import ConnectionKey

from loadray.engine import errors
from loadray.engine.errors import KINDS, error_detail, error_kind, status_error

KEY = ConnectionKey("127.0.0.1", 1, False, True, None, None, None, None)


def refused() -> OSError:
    return ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")


@pytest.mark.parametrize(
    ("exc", "connecting", "kind"),
    [
        # builtins / asyncio / ssl (the fast transport's failures)
        (refused(), True, errors.CONNECT_REFUSED),
        (OSError(errno.ECONNREFUSED, "refused"), True, errors.CONNECT_REFUSED),
        (TimeoutError(), True, errors.CONNECT_TIMEOUT),
        (asyncio.TimeoutError(), False, errors.TIMEOUT),
        (socket.gaierror(socket.EAI_NONAME, "no such host"), True, errors.CONNECT_ERROR),
        (OSError(errno.ENETUNREACH, "unreachable"), True, errors.CONNECT_ERROR),
        (ConnectionResetError(errno.ECONNRESET, "reset"), False, errors.RESET),
        (BrokenPipeError(errno.EPIPE, "pipe"), False, errors.RESET),
        (ssl.SSLError("bad handshake"), False, errors.TLS),
        (ssl.SSLCertVerificationError("bad cert"), True, errors.TLS),
        (httptools.HttpParserError("bad"), False, errors.PROTOCOL),
        (httptools.HttpParserInvalidStatusError("bad"), False, errors.PROTOCOL),
        (ValueError("who knows"), False, errors.PROTOCOL),
        (ValueError("who knows"), True, errors.CONNECT_ERROR),
        # aiohttp
        (aiohttp.ClientConnectorError(KEY, refused()), True, errors.CONNECT_REFUSED),
        (aiohttp.ClientConnectorError(KEY, refused()), False, errors.CONNECT_REFUSED),
        (aiohttp.ClientConnectorError(KEY, OSError(errno.EHOSTUNREACH, "x")), False, errors.CONNECT_ERROR),
        (aiohttp.ClientConnectorError(KEY, socket.gaierror(-2, "x")), False, errors.CONNECT_ERROR),
        (aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError("x")), False, errors.TLS),
        (aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError("x")), False, errors.TLS),
        (aiohttp.ServerTimeoutError("read"), False, errors.TIMEOUT),
        (aiohttp.ServerTimeoutError("connect"), True, errors.CONNECT_TIMEOUT),
        (aiohttp.ConnectionTimeoutError("connect"), False, errors.CONNECT_TIMEOUT),
        (aiohttp.SocketTimeoutError("read"), False, errors.TIMEOUT),
        (aiohttp.ServerDisconnectedError(), False, errors.RESET),
        (aiohttp.ClientOSError(errno.ECONNRESET, "reset"), False, errors.RESET),
        (aiohttp.ClientPayloadError("Response payload is not completed: <ContentLengthError>"), False, errors.RESET),
        (aiohttp.ClientPayloadError("bad chunk"), False, errors.PROTOCOL),
        (aiohttp.ClientResponseError(None, (), status=400, message="Bad status line"), False, errors.PROTOCOL),
        (aiohttp.InvalidURL("nope"), True, errors.CONNECT_ERROR),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_error_kind(exc: BaseException, connecting: bool, kind: str) -> None:
    assert error_kind(exc, connecting) == kind
    assert kind in KINDS


def test_status_error() -> None:
    assert [status_error(s) for s in (200, 301, 399, 400, 404, 499, 500, 503)] == [
        None,
        None,
        None,
        "http_4xx",
        "http_4xx",
        "http_4xx",
        "http_5xx",
        "http_5xx",
    ]


@pytest.mark.parametrize(
    "exc",
    [TypeError("x"), AttributeError("x"), KeyError("x"), IndexError("x"), ZeroDivisionError("x"),
     OverflowError("x"), RecursionError("x"), AssertionError("x")],
    ids=lambda e: type(e).__name__,
)
def test_a_defect_is_internal_never_a_network_kind(exc: BaseException) -> None:
    assert error_kind(exc) == error_kind(exc, True) == errors.INTERNAL


@pytest.mark.parametrize(
    ("exc", "where", "detail"),
    [
        (ValueError("bad\nsecond line"), "", "ValueError: bad"),
        (KeyError("k"), "v", "v: KeyError: 'k'"),
        (TimeoutError(), "", "TimeoutError"),
        (RuntimeError("x" * 500), "check", "check: RuntimeError: " + "x" * (errors.DETAIL_MAX - 24) + "..."),
    ],
)
def test_error_detail_is_type_and_first_line_bounded(exc: BaseException, where: str, detail: str) -> None:
    assert error_detail(exc, where) == detail
    assert len(error_detail(exc, where)) <= errors.DETAIL_MAX
