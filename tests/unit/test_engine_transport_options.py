"""Transport options against a real aiohttp server on 127.0.0.1: trace propagation,
compression, keep-alive off, redirects, and TLS (server, CA and client certificates
generated here with ``cryptography``)."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from helpers import start_app
from loadray.engine.aiohttp_transport import ssl_context
from loadray.engine.transport import PreparedRequest, TransportSettings, traceparent
from loadray.engine.transport_choice import choose_transport, make_transport
from loadray.engine.transport_choice import TransportChoiceError

KINDS = ["fast", "aiohttp"]
PREFIX = "0af7651916cd43dd"
BIG = b"loadray " * 500  # compresses well


@dataclass
class Seen:
    """What the server saw, in arrival order."""

    traceparent: list[str | None] = field(default_factory=list)
    accept_encoding: list[str | None] = field(default_factory=list)
    peers: list[tuple[str, int]] = field(default_factory=list)  # one per request
    client_cn: list[str | None] = field(default_factory=list)


async def start_server(seen: Seen, ssl_ctx: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    async def root(request: web.Request) -> web.Response:
        seen.traceparent.append(request.headers.get("traceparent"))
        seen.accept_encoding.append(request.headers.get("Accept-Encoding"))
        seen.peers.append(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        cert = request.transport.get_extra_info("peercert")  # type: ignore[union-attr]
        subject = dict(x[0] for x in cert["subject"]) if cert else {}
        seen.client_cn.append(subject.get("commonName"))
        return web.Response(text="ok")

    async def big(request: web.Request) -> web.Response:
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(body=gzip.compress(BIG), headers={"Content-Encoding": "gzip"})
        return web.Response(body=BIG)

    async def hops(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(text="arrived")
        return web.Response(status=302, headers={"Location": f"/hops/{n - 1}"})

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_get("/big", big)
    app.router.add_get("/hops/{n}", hops)
    return await start_app(app, ssl_ctx)


async def send(
    kind: str,
    url: str,
    settings: TransportSettings,
    traces: list[int] | int = 1,
    req: PreparedRequest | None = None,
) -> list[tuple[int, str | None, int]]:
    """Send one request per trace (an int: that many untraced), one at a time."""
    traces = [0] * traces if isinstance(traces, int) else traces
    results: list[tuple[int, str | None, int]] = []
    done = asyncio.Event()

    def on_done(ctx: Any, status: int, error: str | None, nbytes: int, sent_ns: int | None = None,
                first: int = 0, chunks: int | None = None) -> None:
        results.append((status, error, nbytes))
        done.set()

    transport = make_transport(kind, [req or PreparedRequest("r", "GET", url)], settings, on_done)
    await transport.open()
    try:
        for i, trace in enumerate(traces):
            done.clear()
            transport.submit(0, i, trace)
            await asyncio.wait_for(done.wait(), 5)
    finally:
        await transport.close()
    return results


def serve_and_send(kind: str, settings: TransportSettings, traces: list[int] | int = 1, path: str = "/",
                   headers: tuple[tuple[str, str], ...] = ()) -> tuple[Seen, list[tuple[int, str | None, int]]]:
    async def main() -> tuple[Seen, list[tuple[int, str | None, int]]]:
        seen = Seen()
        runner, port = await start_server(seen)
        url = f"http://127.0.0.1:{port}{path}"
        try:
            results = await send(kind, url, settings, traces, PreparedRequest("r", "GET", url, headers))
        finally:
            await runner.cleanup()
        return seen, results

    return asyncio.run(main())


# -- trace propagation --------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_traceparent_carries_prefix_and_trace(kind: str) -> None:
    traces = [1, 0, 0xABCDEF, 2**64 - 1, 0]
    seen, results = serve_and_send(kind, TransportSettings(trace_prefix=PREFIX), traces)
    assert results == [(200, None, 2)] * len(traces)
    assert seen.traceparent == [
        "00-0af7651916cd43dd0000000000000001-0000000000000001-01",
        None,
        "00-0af7651916cd43dd0000000000abcdef-0000000000abcdef-01",
        "00-0af7651916cd43ddffffffffffffffff-ffffffffffffffff-01",
        None,
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_no_prefix_never_sends_traceparent(kind: str) -> None:
    seen, _ = serve_and_send(kind, TransportSettings(), [7, 0, 9])
    assert seen.traceparent == [None, None, None]


@pytest.mark.parametrize("kind", KINDS)
def test_a_request_own_traceparent_wins(kind: str) -> None:
    own = "00-11111111111111111111111111111111-2222222222222222-00"
    seen, _ = serve_and_send(kind, TransportSettings(trace_prefix=PREFIX), [5], headers=(("traceparent", own),))
    assert seen.traceparent == [own]


def test_traced_bytes_are_the_plain_bytes_plus_one_header() -> None:
    from loadray.engine.fast import build_request_bytes, build_traced_parts, traced_bytes

    req = PreparedRequest("p", "POST", "http://127.0.0.1:1/a%20b?x=%41", body=b"100% %s %d\r\n\r\n")
    parts = build_traced_parts(req, TransportSettings(trace_prefix=PREFIX))
    assert parts is not None
    plain = build_request_bytes(req, True)
    for trace in (1, 0xABC, 2**64 - 1):
        line = b"traceparent: " + traceparent(PREFIX, trace).encode() + b"\r\n"
        traced = traced_bytes(parts, trace)
        # one more header line, after the request's own (where the flow path puts it too)
        assert traced == plain.replace(b"Content-Length:", line + b"Content-Length:")
        assert traced.endswith(b"\r\n\r\n100% %s %d\r\n\r\n")
    assert build_traced_parts(req, TransportSettings()) is None


@pytest.mark.parametrize("prefix", ["0AF7651916CD43DD", "0af765", "0af7651916cd43dd0", "0af7651916cd43dg"])
def test_trace_prefix_must_be_16_lowercase_hex_digits(prefix: str) -> None:
    with pytest.raises(ValueError, match="trace_prefix"):
        TransportSettings(trace_prefix=prefix)


# -- compression, keep-alive ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_compression_asks_for_gzip_and_counts_raw_bytes(kind: str) -> None:
    seen, plain = serve_and_send(kind, TransportSettings(), 1)
    assert seen.accept_encoding == [None]
    seen, asked = serve_and_send(kind, TransportSettings(compression=True), 1)
    assert seen.accept_encoding == ["gzip, deflate"]
    _, big_plain = serve_and_send(kind, TransportSettings(), 1, path="/big")
    _, big_gzip = serve_and_send(kind, TransportSettings(compression=True), 1, path="/big")
    assert plain == asked == [(200, None, 2)]
    assert big_plain == [(200, None, len(BIG))]
    assert big_gzip == [(200, None, len(gzip.compress(BIG)))]  # on the wire, not decompressed


@pytest.mark.parametrize("keepalive", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_keepalive_off_opens_a_connection_per_request(kind: str, keepalive: bool) -> None:
    """Against aiohttp's server, which would happily keep every connection open."""
    seen, results = serve_and_send(kind, TransportSettings(keepalive=keepalive), 6)
    assert results == [(200, None, 2)] * 6
    assert len(set(seen.peers)) == (1 if keepalive else 6)


# -- redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("redirects", "hops", "expected"),
    [
        (0, 2, (302, None, 0)),  # the 3xx is the answer
        (3, 2, (200, None, 7)),  # followed to the end ("arrived")
        (2, 2, (200, None, 7)),  # exactly enough
        (1, 2, (302, None, 0)),  # the limit is reached: the last 3xx is the answer
    ],
)
def test_redirects_followed_up_to_the_limit(redirects: int, hops: int, expected: tuple) -> None:
    kind = choose_transport("auto", [PreparedRequest("r", "GET", "http://127.0.0.1:1/")],
                            TransportSettings(redirects=redirects))
    assert kind == ("fast" if redirects == 0 else "aiohttp")
    _, results = serve_and_send(kind, TransportSettings(redirects=redirects), 1, path=f"/hops/{hops}")
    assert results == [expected]


def test_fast_cannot_follow_redirects() -> None:
    reqs = [PreparedRequest("r", "GET", "http://127.0.0.1:1/")]
    with pytest.raises(TransportChoiceError, match="redirects"):
        make_transport("fast", reqs, TransportSettings(redirects=1), lambda *a: None)


# -- TLS --------------------------------------------------------------------------------------


def tls_round(pki: Any, settings: TransportSettings, n: int = 2) -> tuple[Seen, list[tuple[int, str | None, int]]]:
    async def main() -> tuple[Seen, list[tuple[int, str | None, int]]]:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(pki.server_cert, pki.server_key)
        server_ctx.load_verify_locations(pki.ca)
        server_ctx.verify_mode = ssl.CERT_OPTIONAL  # a client certificate, if sent, must verify
        seen = Seen()
        runner, port = await start_server(seen, server_ctx)
        url = f"https://127.0.0.1:{port}/"
        assert choose_transport("auto", [PreparedRequest("r", "GET", url)]) == "aiohttp"
        try:
            return seen, await send("auto", url, settings, n)
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def test_https_verify_with_the_ca_succeeds(pki: Any) -> None:
    seen, results = tls_round(pki, TransportSettings(ca_file=str(pki.ca)))
    assert results == [(200, None, 2)] * 2
    assert seen.client_cn == [None, None]


def test_https_verify_without_the_ca_is_a_tls_error(pki: Any) -> None:
    seen, results = tls_round(pki, TransportSettings())
    assert results == [(0, "tls", 0)] * 2
    assert seen.peers == []


def test_https_verify_off_succeeds(pki: Any) -> None:
    _, results = tls_round(pki, TransportSettings(verify=False))
    assert results == [(200, None, 2)] * 2


@pytest.mark.parametrize("verify", [True, False])
def test_https_client_certificate_is_presented(pki: Any, verify: bool) -> None:
    settings = TransportSettings(
        verify=verify, ca_file=str(pki.ca), cert_file=str(pki.client_cert), key_file=str(pki.client_key)
    )
    seen, results = tls_round(pki, settings)
    assert results == [(200, None, 2)] * 2
    assert seen.client_cn == ["loadray client"] * 2


def test_ssl_context_shapes(pki: Any) -> None:
    assert ssl_context(TransportSettings()) is True
    assert ssl_context(TransportSettings(verify=False)) is False
    ctx = ssl_context(TransportSettings(ca_file=str(pki.ca)))
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    ctx = ssl_context(TransportSettings(verify=False, cert_file=str(pki.client_cert), key_file=str(pki.client_key)))
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname
    with pytest.raises(ValueError, match="key_file needs cert_file"):
        TransportSettings(key_file=str(pki.client_key))
