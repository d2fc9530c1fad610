"""Transport behaviour on real loopback sockets (no mocks).

The behavioural tests run against every transport variant: the fast transport on
the stdlib loop and on uvloop, and the aiohttp transport. Fast-only details (request
bytes, interim responses, EOF-delimited bodies, stale keep-alive retry, prewarm,
queueing) follow at the end.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any, Awaitable, Callable

import pytest
from aiohttp import web

from loadray.engine.errors import KINDS
from loadray.engine.fast import FastTransport, build_request_bytes
from loadray.engine.transport import PreparedRequest, TransportSettings
from loadray.engine.transports import make_transport

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

VARIANTS = ["fast-asyncio", "fast-uvloop", "aiohttp"]
FAST_VARIANTS = ["fast-asyncio", "fast-uvloop"]
OK_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def run(variant: str, main: Callable[[], Awaitable[Any]]) -> Any:
    if variant.endswith("uvloop"):
        if uvloop is None:
            pytest.skip("uvloop not installed")
        return uvloop.run(main())
    return asyncio.run(main())


def kind_of(variant: str) -> str:
    return variant.split("-")[0]


# -- harness ---------------------------------------------------------------------------


class Recorder:
    """The on_done callback: checks exactly-once per ctx and lets a test await counts."""

    def __init__(self) -> None:
        self.results: dict[Any, tuple[int, str | None, int]] = {}
        self.times: dict[Any, float] = {}
        self.duplicates: list[Any] = []
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self.then: Callable[[Any], None] | None = None  # called after each result

    def __call__(self, ctx: Any, status: int, error: str | None, nbytes: int, sent_ns: int | None = None) -> None:
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


def requests_for(port: int, *paths: str, method: str = "GET", body: bytes | None = None):
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
    transport = make_transport(kind_of(variant), reqs, settings or TransportSettings(), rec)
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
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


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


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# -- behaviour, every transport ------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_many_requests_all_ok(variant: str) -> None:
    async def main() -> None:
        runner, port = await aiohttp_server()
        try:
            rec = await drive(
                variant, requests_for(port), 300, TransportSettings(max_connections=20), concurrency=20
            )
        finally:
            await runner.cleanup()
        assert rec.outcomes() == {(200, None, 2)}

    run(variant, main)


@pytest.mark.parametrize("variant", VARIANTS)
def test_body_byte_counts_content_length_and_chunked(variant: str) -> None:
    async def main() -> None:
        runner, port = await aiohttp_server()
        try:
            reqs = requests_for(port, "/bytes/12345", "/chunked/37", "/bytes/0")
            rec = await drive(variant, reqs, 9, index=lambda i: i % 3)
        finally:
            await runner.cleanup()
        assert {rec.results[i] for i in (0, 3, 6)} == {(200, None, 12345)}
        assert {rec.results[i] for i in (1, 4, 7)} == {(200, None, 37000)}
        assert {rec.results[i] for i in (2, 5, 8)} == {(200, None, 0)}

    run(variant, main)


@pytest.mark.parametrize("variant", VARIANTS)
def test_status_codes_map_to_kinds_and_redirects_are_not_followed(variant: str) -> None:
    async def main() -> None:
        runner, port = await aiohttp_server()
        try:
            reqs = requests_for(port, "/status/404", "/status/503", "/status/301", "/status/204")
            rec = await drive(variant, reqs, 4, index=lambda i: i)
        finally:
            await runner.cleanup()
        assert rec.results[0] == (404, "http_4xx", 7)
        assert rec.results[1] == (503, "http_5xx", 7)
        assert rec.results[2] == (301, None, 7)
        assert rec.results[3] == (204, None, 0)

    run(variant, main)


@pytest.mark.parametrize("variant", VARIANTS)
def test_post_body_is_sent(variant: str) -> None:
    async def main() -> None:
        runner, port = await aiohttp_server()
        try:
            reqs = [
                *requests_for(port, "/echo", method="POST", body=b"x" * 100),
                *requests_for(port, "/echo", method="POST"),
            ]
            rec = await drive(variant, reqs, 2, index=lambda i: i)
        finally:
            await runner.cleanup()
        assert rec.results == {0: (200, None, len("POST 100")), 1: (200, None, len("POST 0"))}

    run(variant, main)


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
    async def main() -> None:
        srv = await RawServer(response, close_after=True).start()
        try:
            rec = await drive(variant, requests_for(srv.port), 3)
        finally:
            await srv.stop()
        assert rec.outcomes() == {(0, "reset", 0)}

    run(variant, main)


@pytest.mark.parametrize("variant", VARIANTS)
def test_garbage_response_is_protocol_error(variant: str) -> None:
    async def main() -> None:
        srv = await RawServer(b"SPAM SPAM SPAM\r\n\r\n", keep_open=True).start()
        try:
            rec = await drive(variant, requests_for(srv.port), 3)
        finally:
            await srv.stop()
        assert rec.outcomes() == {(0, "protocol", 0)}
        assert srv.connections == 3  # an errored connection is never reused

    run(variant, main)


@pytest.mark.parametrize("keepalive", [True, False])
@pytest.mark.parametrize("variant", VARIANTS)
def test_keepalive_reuses_one_connection(variant: str, keepalive: bool) -> None:
    async def main() -> None:
        srv = await RawServer().start()
        try:
            rec = await drive(variant, requests_for(srv.port), 20, TransportSettings(keepalive=keepalive))
        finally:
            await srv.stop()
        assert rec.outcomes() == {(200, None, 2)}
        assert srv.requests == 20
        assert srv.connections == (1 if keepalive else 20)

    run(variant, main)


@pytest.mark.parametrize("variant", VARIANTS)
def test_server_connection_close_is_handled(variant: str) -> None:
    async def main() -> None:
        response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        srv = await RawServer(response, close_after=True).start()
        try:
            rec = await drive(variant, requests_for(srv.port), 10, concurrency=2)
        finally:
            await srv.stop()
        assert rec.outcomes() == {(200, None, 2)}
        assert srv.connections == 10

    run(variant, main)


@pytest.mark.parametrize("variant", VARIANTS)
def test_close_cuts_in_flight(variant: str) -> None:
    async def main() -> None:
        srv = await RawServer(answer=False).start()
        rec = Recorder()
        transport = make_transport(
            kind_of(variant), requests_for(srv.port), TransportSettings(max_connections=3), rec
        )
        await transport.open(0)
        for i in range(5):  # 3 on the wire, 2 queued (fast) / waiting for the pool (aiohttp)
            transport.submit(0, i)
        await asyncio.sleep(0.1)
        assert rec.results == {}
        await transport.close()
        await asyncio.sleep(0.05)
        transport.submit(0, 5)  # after close: cut too, later
        assert 5 not in rec.results
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


# -- fast transport only -------------------------------------------------------------------


def test_request_bytes_are_built_once_and_complete() -> None:
    req = PreparedRequest(
        "r", "post", "http://u:p@127.0.0.1:8080/a/b?x=1#frag", (("X-A", "1"),), b"hello"
    )
    assert build_request_bytes(req, keepalive=True) == (
        b"POST /a/b?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: loadray\r\n"
        b"X-A: 1\r\nContent-Length: 5\r\n\r\nhello"
    )
    get = PreparedRequest("g", "GET", "http://127.0.0.1", (("User-Agent", "me"), ("host", "other")))
    assert build_request_bytes(get, keepalive=False) == (
        b"GET / HTTP/1.1\r\nUser-Agent: me\r\nhost: other\r\nConnection: close\r\n\r\n"
    )
    empty_post = PreparedRequest("p", "POST", "http://127.0.0.1/")
    assert b"Content-Length: 0\r\n" in build_request_bytes(empty_post, keepalive=True)
    with pytest.raises(ValueError):
        build_request_bytes(PreparedRequest("x", "GET", "http://127.0.0.1/", (("A", "b\r\nC: d"),)), True)


def test_fast_rejects_what_it_cannot_send() -> None:
    s = TransportSettings()
    for reqs in (
        [PreparedRequest("a", "GET", "https://127.0.0.1/")],
        [PreparedRequest("a", "GET", "http://127.0.0.1:1/"), PreparedRequest("b", "GET", "http://127.0.0.1:2/")],
        [PreparedRequest("a", "HEAD", "http://127.0.0.1/")],
        [],
    ):
        with pytest.raises(ValueError):
            FastTransport(reqs, s, lambda *a: None)


@pytest.mark.parametrize("variant", FAST_VARIANTS)
def test_interim_1xx_response_is_skipped(variant: str) -> None:
    async def main() -> None:
        srv = await RawServer(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK_RESPONSE).start()
        try:
            rec = await drive(variant, requests_for(srv.port), 3)
        finally:
            await srv.stop()
        assert rec.outcomes() == {(200, None, 2)}
        assert srv.connections == 1

    run(variant, main)


@pytest.mark.parametrize("variant", [*FAST_VARIANTS, "aiohttp"])
def test_eof_delimited_body_completes_at_close(variant: str) -> None:
    async def main() -> None:
        srv = await RawServer(b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\n" + b"z" * 5000, close_after=True).start()
        try:
            rec = await drive(variant, requests_for(srv.port), 3)
        finally:
            await srv.stop()
        assert rec.outcomes() == {(200, None, 5000)}

    run(variant, main)


@pytest.mark.parametrize("variant", FAST_VARIANTS)
def test_stale_keepalive_connection_is_retried_once(variant: str) -> None:
    # The server closes after each response without saying so; the next request is
    # submitted from on_done, before the close is seen, onto the stale connection.
    async def main() -> None:
        srv = await RawServer(close_after=True).start()
        try:
            rec = await drive(variant, requests_for(srv.port), 10)
        finally:
            await srv.stop()
        assert rec.outcomes() == {(200, None, 2)}
        assert srv.requests == 10

    run(variant, main)


@pytest.mark.parametrize("variant", FAST_VARIANTS)
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


@pytest.mark.parametrize("variant", FAST_VARIANTS)
def test_queued_request_times_out_and_queue_drains_in_order(variant: str) -> None:
    async def main() -> None:
        srv = await RawServer(delay=0.05).start()
        rec = Recorder()
        settings = TransportSettings(max_connections=1, timeout_s=0.12)
        transport = FastTransport(requests_for(srv.port), settings, rec)
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


@pytest.mark.parametrize("variant", VARIANTS)
def test_ctx_may_be_none(variant: str) -> None:
    async def main() -> None:
        srv = await RawServer().start()
        calls: list[tuple[Any, int, str | None, int]] = []
        transport = make_transport(
            kind_of(variant), requests_for(srv.port), TransportSettings(), lambda *a: calls.append(a)
        )
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
