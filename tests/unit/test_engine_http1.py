"""The HTTP/1.1 core's behaviour on real loopback sockets (no mocks), tested once and
run on every front: the open-model fast transport (on the stdlib loop and on uvloop),
the flow client (driven inline, as open-model flows are), and the aiohttp transport
(the fallback: same contract). Core details that only the fast front can show
(prewarm, the queue) follow at the end; the serializer, cookies and redirect rules
are table tests at the very end.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, Awaitable, Callable

import pytest
from aiohttp import web

from helpers import start_app
from loadray.kinds import KINDS
from loadray.engine.fast import FastTransport, build_request_bytes
from loadray.engine.clock import SystemClock
from loadray.engine.fast_client import FastFlowClient, next_hop
from loadray.engine.http1 import HeaderError, head_parts, set_cookie, split_http_url, take_cookies
from loadray.engine.inline_task import InlineTask
from loadray.engine.transport import PreparedRequest, TransportSettings
from loadray.engine.transport_choice import make_transport
from loadray.flow.render import Rendered

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

VARIANTS = ["fast-asyncio", "fast-uvloop", "flow-uvloop", "aiohttp"]
CORE = ["fast-asyncio", "fast-uvloop", "flow-uvloop"]  # the fronts of the HTTP/1.1 core
OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def run(variant: str, main: Callable[[], Awaitable[Any]]) -> Any:
    if variant.endswith("uvloop"):
        if uvloop is None:
            pytest.skip("uvloop not installed")
        return uvloop.run(main())
    return asyncio.run(main())


class FlowFront:
    """The flow client behind the transport interface: each ``submit`` is one flow
    step sent inline (an :class:`InlineTask`, as the flow path runs arrivals), its
    :class:`Reply` reported like a transport's outcome."""

    def __init__(self, requests: list[PreparedRequest], settings: TransportSettings, on_done: Any) -> None:
        self.requests = requests
        self.on_done = on_done
        self.client = FastFlowClient(settings, SystemClock())
        self.session = self.client.session()

    async def open(self, prewarm: int = 0) -> None:
        await self.client.open()

    def submit(self, index: int, ctx: Any, trace: int = 0) -> None:
        req = self.requests[index]
        InlineTask(self._send(Rendered(req.method, req.url, req.headers, req.body), ctx))

    async def _send(self, out: Rendered, ctx: Any) -> None:
        reply = await self.client.send(self.session, out, None)
        self.on_done(ctx, reply.status, reply.error, reply.nbytes)

    async def close(self) -> None:
        await self.client.close()


def front(variant: str, reqs: list[PreparedRequest], settings: TransportSettings, on_done: Any) -> Any:
    if variant.startswith("flow"):
        return FlowFront(reqs, settings, on_done)
    return make_transport(variant.split("-")[0], reqs, settings, on_done)


# -- harness ---------------------------------------------------------------------------


class Recorder:
    """The on_done callback: checks exactly-once per ctx and lets a test await counts."""

    def __init__(self) -> None:
        self.results: dict[Any, tuple[int, str | None, int]] = {}
        self.times: dict[Any, float] = {}
        self.duplicates: list[Any] = []
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self.then: Callable[[Any], None] | None = None  # called after each result

    def __call__(self, ctx: Any, status: int, error: str | None, nbytes: int, sent_ns: int | None = None,
                 first: int = 0, chunks: int | None = None) -> None:
        assert error is None or error in KINDS, error
        if ctx in self.results:
            self.duplicates.append(ctx)
        self.results[ctx] = (status, error, nbytes)
        self.times[ctx] = time.monotonic()
        for n, fut in self._waiters:
            if len(self.results) >= n and not fut.done():
                fut.set_result(None)
        if self.then is not None:
            self.then(ctx)

    async def wait(self, n: int, timeout: float = 5.0) -> None:
        if len(self.results) < n:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append((n, fut))
            await asyncio.wait_for(fut, timeout)

    def outcomes(self) -> set[tuple[int, str | None, int]]:
        return set(self.results.values())


def requests_for(port: int, *paths: str, method: str = "GET", body: bytes | None = None) -> list[PreparedRequest]:
    return [
        PreparedRequest(name=f"r{i}", method=method, url=f"http://127.0.0.1:{port}{p}", body=body)
        for i, p in enumerate(paths or ("/",))
    ]


async def drive(
    variant: str,
    reqs: list[PreparedRequest],
    n: int,
    settings: TransportSettings | None = None,
    *,
    concurrency: int = 1,
    index: Callable[[int], int] = lambda i: 0,
    prewarm: int = 0,
    timeout: float = 5.0,
) -> Recorder:
    """Closed loop: ``concurrency`` requests in flight until ``n`` are done."""
    rec = Recorder()
    transport = front(variant, reqs, settings or TransportSettings(), rec)
    sent = 0

    def next_one(_ctx: Any = None) -> None:
        nonlocal sent
        if sent < n:
            sent += 1
            transport.submit(index(sent - 1), sent - 1)

    rec.then = next_one
    await transport.open(prewarm)
    for _ in range(min(concurrency, n)):
        next_one()
    try:
        await rec.wait(n, timeout)
    finally:
        await transport.close()
    await asyncio.sleep(0.02)  # a late second call would land here
    assert not rec.duplicates
    assert sorted(rec.results) == list(range(n))
    return rec


# -- servers -----------------------------------------------------------------------------


async def aiohttp_server() -> tuple[web.AppRunner, int]:
    async def root(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def status(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        headers = {"Location": "/"} if 300 <= code < 400 else None
        return web.Response(status=code, text="x" * 7, headers=headers)

    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"a" * int(request.match_info["n"]))

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(int(request.match_info["k"])):
            await resp.write(b"b" * 1000)
        await resp.write_eof()
        return resp

    async def echo_len(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(text=f"{request.method} {len(body)}")

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/bytes/{n}", sized)
    app.router.add_get("/chunked/{k}", chunked)
    app.router.add_route("*", "/echo", echo_len)
    return await start_app(app)


class RawServer:
    """A tiny HTTP/1.1 server with scripted misbehaviour; counts connections."""

    def __init__(
        self,
        response: bytes = OK_RESPONSE,
        *,
        delay: float = 0.0,
        answer: bool = True,
        close_after: bool = False,
        keep_open: bool = False,
    ) -> None:
        self.response = response
        self.delay = delay
        self.answer = answer
        self.close_after = close_after
        self.keep_open = keep_open  # after a one-shot answer, hold the socket open
        self.connections = 0
        self.open_now = 0
        self.max_open = 0
        self.requests = 0
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> RawServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self._writers):
            w.transport.abort()
        await asyncio.sleep(0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":")[1]))
                if not self.answer:
                    await asyncio.sleep(3600)
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(self.response)
                await writer.drain()
                if self.keep_open:
                    await asyncio.sleep(3600)
                if self.close_after or b"connection: close" in head.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.open_now -= 1
            self._writers.discard(writer)
            writer.transport.abort()


def on_app(
    variant: str, reqs: Callable[[int], list[PreparedRequest]], n: int, settings: TransportSettings | None = None,
    **drive_kw: Any,
) -> Recorder:
    """Drive ``n`` requests of ``variant`` (``reqs(port)``) at :func:`aiohttp_server`."""

    async def main() -> Recorder:
        runner, port = await aiohttp_server()
        try:
            return await drive(variant, reqs(port), n, settings, **drive_kw)
        finally:
            await runner.cleanup()

    return run(variant, main)


def against(
    variant: str, server: RawServer, n: int, settings: TransportSettings | None = None, *, method: str = "GET",
    body: bytes | None = None, concurrency: int = 1,
) -> tuple[Recorder, RawServer]:
    """Start ``server``, drive ``n`` requests of ``variant`` at it (see :func:`drive`), stop it."""

    async def main() -> tuple[Recorder, RawServer]:
        await server.start()
        try:
            reqs = requests_for(server.port, method=method, body=body)
            return await drive(variant, reqs, n, settings, concurrency=concurrency), server
        finally:
            await server.stop()

    return run(variant, main)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- behaviour, every transport ------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_many_requests_all_ok(variant: str) -> None:
    rec = on_app(variant, requests_for, 300, TransportSettings(max_connections=20), concurrency=20)
    assert rec.outcomes() == {(200, None, 2)}


@pytest.mark.parametrize("variant", VARIANTS)
def test_body_byte_counts_content_length_and_chunked(variant: str) -> None:
    rec = on_app(variant, lambda port: requests_for(port, "/bytes/12345", "/chunked/37", "/bytes/0"), 9,
                 index=lambda i: i % 3)
    assert {rec.results[i] for i in (0, 3, 6)} == {(200, None, 12345)}
    assert {rec.results[i] for i in (1, 4, 7)} == {(200, None, 37000)}
    assert {rec.results[i] for i in (2, 5, 8)} == {(200, None, 0)}


@pytest.mark.parametrize("variant", VARIANTS)
def test_status_codes_map_to_kinds_and_redirects_are_not_followed(variant: str) -> None:
    paths = ("/status/404", "/status/503", "/status/301", "/status/204")
    rec = on_app(variant, lambda port: requests_for(port, *paths), 4, index=lambda i: i)
    assert rec.results[0] == (404, "http_4xx", 7)
    assert rec.results[1] == (503, "http_5xx", 7)
    assert rec.results[2] == (301, None, 7)
    assert rec.results[3] == (204, None, 0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_post_body_is_sent(variant: str) -> None:
    def reqs(port: int) -> list[PreparedRequest]:
        return [*requests_for(port, "/echo", method="POST", body=b"x" * 100), *requests_for(port, "/echo", method="POST")]

    rec = on_app(variant, reqs, 2, index=lambda i: i)
    assert rec.results == {0: (200, None, len("POST 100")), 1: (200, None, len("POST 0"))}


@pytest.mark.parametrize("variant", VARIANTS)
def test_refused_port(variant: str) -> None:
    async def main() -> None:
        rec = await drive(variant, requests_for(free_port()), 5, concurrency=5, prewarm=2)
        assert rec.outcomes() == {(0, "connect_refused", 0)}

    run(variant, main)


@pytest.mark.parametrize("variant", VARIANTS)
def test_server_that_never_answers_times_out_on_time(variant: str) -> None:
    async def main() -> None:
        srv = await RawServer(answer=False).start()
        settings = TransportSettings(timeout_s=0.3, connect_timeout_s=1.0)
        t0 = time.monotonic()
        try:
            rec = await drive(variant, requests_for(srv.port), 3, settings, concurrency=3)
        finally:
            await srv.stop()
        assert rec.outcomes() == {(0, "timeout", 0)}
        for t in rec.times.values():
            assert 0.2 <= t - t0 <= 0.4 + 0.1

    run(variant, main)


@pytest.mark.parametrize("variant", VARIANTS)
def test_connect_timeout_when_backlog_is_full(variant: str) -> None:
    async def main() -> None:
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(0)
        port = lsock.getsockname()[1]
        fillers = []
        for _ in range(3):  # fill the accept queue; later SYNs are dropped
            f = socket.socket()
            f.setblocking(False)
            try:
                f.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(f)
        await asyncio.sleep(0.05)
        settings = TransportSettings(connect_timeout_s=0.3, timeout_s=2.0)
        t0 = time.monotonic()
        try:
            rec = await drive(variant, requests_for(port), 2, settings, concurrency=2)
        finally:
            for f in fillers:
                f.close()
            lsock.close()
        assert rec.outcomes() == {(0, "connect_timeout", 0)}
        for t in rec.times.values():
            assert 0.2 <= t - t0 <= 0.5

    run(variant, main)


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n01234",
        b"HTTP/1.1 200 OK\r\nContent-Le",
        b"",
    ],
    ids=["content-length", "content-length-close", "chunked", "in-headers", "nothing"],
)
@pytest.mark.parametrize("variant", VARIANTS)
def test_server_closing_mid_response_is_reset(variant: str, response: bytes) -> None:
    rec, srv = against(variant, RawServer(response, close_after=True), 3)
    assert rec.outcomes() == {(0, "reset", 0)}


@pytest.mark.parametrize("variant", VARIANTS)
def test_garbage_response_is_protocol_error(variant: str) -> None:
    rec, srv = against(variant, RawServer(b"SPAM SPAM SPAM\r\n\r\n", keep_open=True), 3)
    assert rec.outcomes() == {(0, "protocol", 0)}
    assert srv.connections == 3  # an errored connection is never reused


@pytest.mark.parametrize("keepalive", [True, False])
@pytest.mark.parametrize("variant", VARIANTS)
def test_keepalive_reuses_one_connection(variant: str, keepalive: bool) -> None:
    rec, srv = against(variant, RawServer(), 20, TransportSettings(keepalive=keepalive))
    assert rec.outcomes() == {(200, None, 2)}
    assert srv.requests == 20
    assert srv.connections == (1 if keepalive else 20)


@pytest.mark.parametrize("variant", VARIANTS)
def test_server_connection_close_is_handled(variant: str) -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    rec, srv = against(variant, RawServer(response, close_after=True), 10, concurrency=2)
    assert rec.outcomes() == {(200, None, 2)}
    assert srv.connections == 10


@pytest.mark.parametrize("variant", VARIANTS)
def test_close_cuts_in_flight(variant: str) -> None:
    async def main() -> None:
        srv = await RawServer(answer=False).start()
        rec = Recorder()
        transport = front(variant, requests_for(srv.port), TransportSettings(max_connections=3), rec)
        await transport.open(0)
        for i in range(5):  # 3 on the wire, 2 queued (fast) / waiting for the pool (aiohttp)
            transport.submit(0, i)
        await asyncio.sleep(0.1)
        assert rec.results == {}
        await transport.close()
        await asyncio.sleep(0.05)
        transport.submit(0, 5)  # after close: cut too (a transport's on_done comes later)
        assert variant.startswith("flow") or 5 not in rec.results
        await asyncio.sleep(0.05)
        await srv.stop()
        assert not rec.duplicates
        assert rec.results == {i: (0, "cut", 0) for i in range(6)}
        assert srv.max_open <= 3

    run(variant, main)


@pytest.mark.parametrize("keepalive", [True, False])
@pytest.mark.parametrize("variant", VARIANTS)
def test_max_connections_respected(variant: str, keepalive: bool) -> None:
    async def main() -> None:
        srv = await RawServer(delay=0.03).start()
        settings = TransportSettings(max_connections=4, keepalive=keepalive)
        try:
            rec = await drive(variant, requests_for(srv.port), 12, settings, concurrency=12)
        finally:
            await srv.stop()
        assert rec.outcomes() == {(200, None, 2)}
        assert srv.max_open <= 4
        assert srv.connections == (4 if keepalive else 12)

    run(variant, main)


# -- core details ----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", CORE)
def test_interim_1xx_response_is_skipped(variant: str) -> None:
    rec, srv = against(variant, RawServer(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK_RESPONSE), 3)
    assert rec.outcomes() == {(200, None, 2)}
    assert srv.connections == 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_eof_delimited_body_completes_at_close(variant: str) -> None:
    rec, srv = against(variant, RawServer(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n" + b"z" * 5000, close_after=True), 3)
    assert rec.outcomes() == {(200, None, 5000)}


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
    ],
    ids=["content-length", "chunked", "after-100"],
)
@pytest.mark.parametrize("variant", VARIANTS)
def test_head_response_ends_with_its_headers_and_keeps_the_connection(variant: str, response: bytes) -> None:
    rec, srv = against(variant, RawServer(response), 5, method="HEAD")
    assert rec.outcomes() == {(200, None, 0)}
    assert srv.requests == 5 and srv.connections == 1


@pytest.mark.parametrize("variant", CORE)
def test_stale_keepalive_connection_is_retried(variant: str) -> None:
    # The server closes after each response without saying so; the next request is
    # submitted from on_done, before the close is seen, onto the stale connection.
    rec, srv = against(variant, RawServer(close_after=True), 10)
    assert rec.outcomes() == {(200, None, 2)}
    assert srv.requests == 10


@pytest.mark.parametrize("variant", CORE)
def test_a_post_on_a_stale_connection_is_not_retried(variant: str) -> None:
    rec, srv = against(variant, RawServer(close_after=True), 4, method="POST", body=b"x")
    assert [rec.results[i] for i in range(4)] == [(200, None, 2), (0, "reset", 0)] * 2
    assert srv.requests == 2


@pytest.mark.parametrize("variant", CORE)
def test_queued_request_times_out_and_queue_drains_in_order(variant: str) -> None:
    async def main() -> None:
        srv = await RawServer(delay=0.05).start()
        rec = Recorder()
        settings = TransportSettings(max_connections=1, timeout_s=0.12)
        transport = front(variant, requests_for(srv.port), settings, rec)
        await transport.open(1)
        for i in range(4):  # 0 on the wire, 1..3 queued behind it
            transport.submit(0, i)
        await rec.wait(4)
        await transport.close()
        await srv.stop()
        assert not rec.duplicates
        assert rec.results[0] == (200, None, 2)
        assert rec.results[1] == (200, None, 2)  # done at ~0.1 s, inside its 0.12 s
        assert rec.results[3] == (0, "timeout", 0)  # would finish at ~0.2 s

    run(variant, main)


@pytest.mark.parametrize("variant", ["fast-asyncio", "fast-uvloop"])
def test_prewarm_opens_connections_and_tolerates_refusal(variant: str) -> None:
    async def main() -> None:
        srv = await RawServer().start()
        rec = Recorder()
        transport = FastTransport(requests_for(srv.port), TransportSettings(max_connections=3), rec)
        await transport.open(prewarm=5)  # capped at max_connections
        await asyncio.sleep(0.02)
        assert srv.connections == 3 and transport.connections == 3
        for i in range(3):
            transport.submit(0, i)
        await rec.wait(3)
        assert srv.connections == 3
        await transport.close()
        await srv.stop()

        refused = FastTransport(requests_for(free_port()), TransportSettings(), rec)
        await refused.open(prewarm=4)  # not fatal
        assert refused.connections == 0
        await refused.close()

    run(variant, main)


@pytest.mark.parametrize("variant", VARIANTS)
def test_ctx_may_be_none(variant: str) -> None:
    async def main() -> None:
        srv = await RawServer().start()
        calls: list[tuple[Any, int, str | None, int]] = []
        transport = front(variant, requests_for(srv.port), TransportSettings(), lambda *a: calls.append(a))
        await transport.open(2)
        for _ in range(4):
            transport.submit(0, None)
        for _ in range(200):
            if len(calls) == 4:
                break
            await asyncio.sleep(0.01)
        await transport.close()
        await srv.stop()
        assert [c[:4] for c in calls] == [(None, 200, None, 2)] * 4

    run(variant, main)


# -- the serializer and its header policy (one for every front) ------------------------------


def request_bytes(method: str, url: str, headers: tuple = (), body: bytes | None = None, *, keepalive: bool = True,
                  compression: bool = False, cookie: str = "", slot: bytes = b"") -> bytes:
    split = split_http_url(url)
    assert split is not None
    before, after = head_parts(method, split[1], split[0], headers, body, keepalive, compression, cookie)
    return before + slot + after + b"\r\n" + (body or b"")


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("GET", "http://127.0.0.1:8080"), {},
         b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: loadray\r\n\r\n"),
        (("POST", "http://u:p@127.0.0.1:8080/a/b?x=1#frag", (("X-A", "1"),), b"hello"), {},
         b"POST /a/b?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: loadray\r\nX-A: 1\r\n"
         b"Content-Length: 5\r\n\r\nhello"),
        (("GET", "http://127.0.0.1?q=1", (("User-Agent", "me"), ("host", "other"))), {"keepalive": False},
         b"GET /?q=1 HTTP/1.1\r\nUser-Agent: me\r\nhost: other\r\nConnection: close\r\n\r\n"),
        (("PUT", "http://h/"), {"compression": True},
         b"PUT / HTTP/1.1\r\nHost: h\r\nUser-Agent: loadray\r\nAccept-Encoding: gzip, deflate\r\n"
         b"Content-Length: 0\r\n\r\n"),
        (("GET", "http://h/caf\u00e9 x?a=\u00e9"), {},
         b"GET /caf%C3%A9%20x?a=%C3%A9 HTTP/1.1\r\nHost: h\r\nUser-Agent: loadray\r\n\r\n"),
        (("GET", "http://h/", (("X-Name", "Jos\u00e9"),)), {},
         b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: loadray\r\nX-Name: Jos\xc3\xa9\r\n\r\n"),  # UTF-8, as aiohttp
        (("GET", "http://h/"), {"cookie": "a=1; b=2", "slot": b"traceparent: x\r\n"},
         b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: loadray\r\ntraceparent: x\r\nCookie: a=1; b=2\r\n\r\n"),
        (("GET", "http://h/", (("Cookie", "own=1"), ("X", "y"))), {"cookie": "a=1"},
         b"GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: loadray\r\nCookie: own=1; a=1\r\nX: y\r\n\r\n"),
        (("DELETE", "http://h/", (("Content-Length", "0"),), b""), {},
         b"DELETE / HTTP/1.1\r\nHost: h\r\nUser-Agent: loadray\r\nContent-Length: 0\r\n\r\n"),
    ],
    ids=["minimal", "post", "own-headers", "compression", "target", "utf8", "slot-cookie", "own-cookie", "own-length"],
)
def test_request_bytes(args: tuple, kwargs: dict, expected: bytes) -> None:
    assert request_bytes(*args, **kwargs) == expected


@pytest.mark.parametrize(
    ("method", "headers", "url", "message"),
    [
        ("GET", (("A", "b\r\nC: d"),), "http://h/", "bad header 'A': CR, LF or NUL inside"),
        ("GET", (("A", "b\nC: d"),), "http://h/", "bad header 'A': CR, LF or NUL inside"),
        ("GET", (("A", "b\0"),), "http://h/", "bad header 'A': CR, LF or NUL inside"),
        ("GET", (("A:B", "c"),), "http://h/", "bad header 'A:B'"),
        ("GET", (("", "c"),), "http://h/", "bad header ''"),
        ("GET", (("X Y", "c"),), "http://h/", "bad header 'X Y'"),
        ("GE T", (), "http://h/", "bad method 'GE T'"),
        ("GET", (), "http://h\r\nX: 1/", "bad host 'h\\r\\nX: 1'"),
    ],
)
def test_what_cannot_be_written_is_refused_with_its_name(method: str, headers: tuple, url: str, message: str) -> None:
    with pytest.raises(HeaderError) as caught:
        request_bytes(method, url, headers)
    assert str(caught.value) == message


def test_fast_request_bytes_and_what_fast_cannot_send() -> None:
    req = PreparedRequest("r", "post", "http://127.0.0.1:8080/a", (("X-A", "1"),), b"hello")
    assert build_request_bytes(req, keepalive=True) == request_bytes("POST", req.url, req.headers, req.body)
    with pytest.raises(ValueError, match="request 'x': bad header 'A'"):
        build_request_bytes(PreparedRequest("x", "GET", "http://127.0.0.1/", (("A", "b\r\nC: d"),)), True)
    for reqs in (
        [PreparedRequest("a", "GET", "https://127.0.0.1/")],
        [PreparedRequest("a", "GET", "http://127.0.0.1:1/"), PreparedRequest("b", "GET", "http://127.0.0.1:2/")],
        [PreparedRequest("a", "CONNECT", "http://127.0.0.1/")],
        [PreparedRequest("a", "GET", "http://127.0.0.1/", (("Upgrade", "h2c"),))],
        [],
    ):
        with pytest.raises(ValueError):
            FastTransport(reqs, TransportSettings(), lambda *a: None)
    assert FastTransport([PreparedRequest("h", "HEAD", "http://127.0.0.1/")], TransportSettings(), print)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h:1/a?b#c", ("h:1", "/a?b")),
        ("HTTP://h?x", ("h", "/?x")),
        ("http://h", ("h", "/")),
        ("https://h/", None),
        ("/relative", None),
    ],
)
def test_split_http_url(url: str, expected: tuple | None) -> None:
    assert split_http_url(url) == expected


# -- cookies and redirects (the flow front's) --------------------------------------------------


@pytest.mark.parametrize(
    ("header", "jar"),
    [
        ("sid=u1; Path=/; HttpOnly", {"old": "1", "sid": "u1"}),
        ("sid = u1 ", {"old": "1", "sid": "u1"}),
        ("old=; Max-Age=0", {}),
        ("old=2; Max-Age=junk", {"old": "2"}),
        ("old=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", {}),
        ("old=3; Expires=Fri, 01 Jan 2100 00:00:00 GMT", {"old": "3"}),
        ("old=4; Expires=not a date", {"old": "4"}),
        ("novalue", {"old": "1"}),
        ("=x", {"old": "1"}),
    ],
)
def test_set_cookie(header: str, jar: dict) -> None:
    got = {"old": "1"}
    set_cookie(got, header, lambda: 1_800_000_000.0)  # 2027: 1970 is past, 2100 is not
    assert got == jar


def test_an_expires_is_judged_by_the_clock_it_is_given() -> None:
    header = "a=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT"
    before, after = {}, {"a": "0"}
    set_cookie(before, header, lambda: 4_102_444_799.0)  # one second before
    set_cookie(after, header, lambda: 4_102_444_800.0)  # that very second: expired
    assert before == {"a": "1"} and after == {}


def test_take_cookies_stores_them_and_returns_the_location() -> None:
    jar: dict[str, str] = {}
    raw = [(b"Set-Cookie", b"a=1"), (b"Location", b"/next"), (b"SET-COOKIE", b"b=2"), (b"Content-Length", b"0")]
    assert take_cookies(raw, jar, time.time) == b"/next" and jar == {"a": "1", "b": "2"}
    assert take_cookies([], jar, time.time) is None


HEADERS = (("Content-Type", "text/plain"), ("X-Id", "7"), ("content-length", "4"))


@pytest.mark.parametrize(
    ("status", "method", "location", "expected"),
    [
        (302, "POST", b"/b", ("GET", "http://h/b", (("X-Id", "7"),), None)),
        (301, "POST", b"b", ("GET", "http://h/a/b", (("X-Id", "7"),), None)),
        (303, "PUT", b"http://o:8/x", ("GET", "http://o:8/x", (("X-Id", "7"),), None)),
        (303, "HEAD", b"/b", ("HEAD", "http://h/b", HEADERS, b"data")),
        (302, "PUT", b"/b", ("PUT", "http://h/b", HEADERS, b"data")),
        (307, "POST", b"/b", ("POST", "http://h/b", HEADERS, b"data")),
        (308, "POST", b"/b", ("POST", "http://h/b", HEADERS, b"data")),
        (302, "GET", b"https://h/b", None),  # another scheme: the 3xx answers
    ],
)
def test_next_hop(status: int, method: str, location: bytes, expected: tuple | None) -> None:
    assert next_hop(status, method, "http://h/a/", location, HEADERS, b"data") == expected
