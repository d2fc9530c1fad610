"""The one exception -> error-kind mapping (loadray.engine.failures.error_kind)."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

import aiohttp
import httptools
import pytest
from aiohttp.client_reqrep import ConnectionKey

from loadray import kinds
from loadray.kinds import KINDS
from loadray.engine.failures import DETAIL_MAX, error_detail, error_kind, status_error

KEY = ConnectionKey("127.0.0.1", 1, False, True, None, None, None, None)


def refused() -> OSError:
    return ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")


@pytest.mark.parametrize(
    ("exc", "connecting", "kind"),
    [
        # builtins / asyncio / ssl (the fast transport's failures)
        (refused(), True, kinds.CONNECT_REFUSED),
        (OSError(errno.ECONNREFUSED, "refused"), True, kinds.CONNECT_REFUSED),
        (TimeoutError(), True, kinds.CONNECT_TIMEOUT),
        (asyncio.TimeoutError(), False, kinds.TIMEOUT),
        (socket.gaierror(socket.EAI_NONAME, "no such host"), True, kinds.CONNECT_ERROR),
        (OSError(errno.ENETUNREACH, "unreachable"), True, kinds.CONNECT_ERROR),
        (ConnectionResetError(errno.ECONNRESET, "reset"), False, kinds.RESET),
        (BrokenPipeError(errno.EPIPE, "pipe"), False, kinds.RESET),
        (ssl.SSLError("bad handshake"), False, kinds.TLS),
        (ssl.SSLCertVerificationError("bad cert"), True, kinds.TLS),
        (httptools.HttpParserError("bad"), False, kinds.PROTOCOL),
        (httptools.HttpParserInvalidStatusError("bad"), False, kinds.PROTOCOL),
        (ValueError("who knows"), False, kinds.PROTOCOL),
        (ValueError("who knows"), True, kinds.CONNECT_ERROR),
        # aiohttp
        (aiohttp.ClientConnectorError(KEY, refused()), True, kinds.CONNECT_REFUSED),
        (aiohttp.ClientConnectorError(KEY, refused()), False, kinds.CONNECT_REFUSED),
        (aiohttp.ClientConnectorError(KEY, OSError(errno.EHOSTUNREACH, "x")), False, kinds.CONNECT_ERROR),
        (aiohttp.ClientConnectorError(KEY, socket.gaierror(-2, "x")), False, kinds.CONNECT_ERROR),
        (aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError("x")), False, kinds.TLS),
        (aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError("x")), False, kinds.TLS),
        (aiohttp.ServerTimeoutError("read"), False, kinds.TIMEOUT),
        (aiohttp.ServerTimeoutError("connect"), True, kinds.CONNECT_TIMEOUT),
        (aiohttp.ConnectionTimeoutError("connect"), False, kinds.CONNECT_TIMEOUT),
        (aiohttp.SocketTimeoutError("read"), False, kinds.TIMEOUT),
        (aiohttp.ServerDisconnectedError(), False, kinds.RESET),
        (aiohttp.ClientOSError(errno.ECONNRESET, "reset"), False, kinds.RESET),
        (aiohttp.ClientPayloadError("Response payload is not completed: <ContentLengthError>"), False, kinds.RESET),
        (aiohttp.ClientPayloadError("bad chunk"), False, kinds.PROTOCOL),
        (aiohttp.ClientResponseError(None, (), status=400, message="Bad status line"), False, kinds.PROTOCOL),
        (aiohttp.InvalidURL("nope"), True, kinds.CONNECT_ERROR),
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
    assert error_kind(exc) == error_kind(exc, True) == kinds.INTERNAL


@pytest.mark.parametrize(
    ("exc", "where", "detail"),
    [
        (ValueError("bad\nsecond line"), "", "ValueError: bad"),
        (KeyError("k"), "v", "v: KeyError: 'k'"),
        (TimeoutError(), "", "TimeoutError"),
        (RuntimeError("x" * 500), "check", "check: RuntimeError: " + "x" * (DETAIL_MAX - 24) + "..."),
    ],
)
def test_error_detail_is_type_and_first_line_bounded(exc: BaseException, where: str, detail: str) -> None:
    assert error_detail(exc, where) == detail
    assert len(error_detail(exc, where)) <= DETAIL_MAX
