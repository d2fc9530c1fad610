"""The flow front of the HTTP/1.1 core on real loopback servers (an aiohttp app or the
built-in target): what only it does (request headers from a step, cookies, redirects,
kept and decoded bodies, per-step timeouts, cancellation, fixed requests), and the
choice between it and the aiohttp client. The core's own behaviour (keep-alive,
errors, timeouts, the connection cap, stale connections) is tested once, on every
front, in ``test_engine_http1.py``."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import zlib

import pytest
from aiohttp import web

from helpers import start_app
from loadray.engine.clock import SystemClock
from loadray.engine.fast_client import FastFlowClient
from loadray.engine.flow_path import flow_client_kind
from loadray.engine.inline_task import InlineTask
from loadray.engine.step_request import StepRequest
from loadray.engine.transport import TransportSettings
from loadray.flow.render import Rendered
from loadray.target.options import TargetOptions
from loadray.target.server import TargetServer

MB = 1 << 20
BIG = bytes(range(256)) * (MB // 256)


@contextlib.asynccontextmanager
async def client(**settings):
    c = FastFlowClient(TransportSettings(**settings), SystemClock())
    await c.open()
    try:
        yield c
    finally:
        await c.close()


@contextlib.asynccontextmanager
async def app(routes: list):
    """An aiohttp app on 127.0.0.1; yields (url, peers): the peer ports it saw."""
    peers: list[int] = []

    @web.middleware
    async def record(request, handler):
        peers.append(request.transport.get_extra_info("peername")[1])
        return await handler(request)

    application = web.Application(middlewares=[record])
    application.add_routes(routes)
    runner, port = await start_app(application)
    try:
        yield f"http://127.0.0.1:{port}", peers
    finally:
        await runner.cleanup()


def get(url: str, **kw) -> Rendered:
    return Rendered("GET", url, **kw)


async def text(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def slow(delay_s: float):
    """A handler answering ``ok`` after ``delay_s``."""
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(delay_s)
        return web.Response(text="ok")
    return handler


def test_request_headers_and_body():
    async def main():
        async with TargetServer(TargetOptions()) as target, client(compression=True) as c:
            s = c.session()
            out = Rendered("POST", target.url + "/echo?a=1", (("X-Id", "7"), ("Content-Type", "text/plain")), b"hello")
            reply = await c.send(s, out, MB)
            await s.close()
            return reply

    reply = asyncio.run(main())
    echo = reply.response.json
    assert reply.status == 200 and reply.error is None
    assert echo["method"] == "POST" and echo["query"] == {"a": "1"} and echo["body"] == "hello"
    headers = echo["headers"]
    assert headers["User-Agent"] == "loadray" and headers["Content-Length"] == "5" and headers["X-Id"] == "7"
    assert headers["Host"].startswith("127.0.0.1:") and headers["Accept-Encoding"] == "gzip, deflate"


def test_chunked_gzip_and_deflate_bodies():
    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b"one,", b"two,", b"three"):
            await resp.write(part)
        await resp.write_eof()
        return resp

    def encoded(name, data):
        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=data, headers={"Content-Encoding": name})
        return handler

    payload = b'{"hello": "world"}' * 100
    zipped, deflated = gzip.compress(payload), zlib.compress(payload)

    async def main():
        routes = [web.get("/c", chunked), web.get("/g", encoded("gzip", zipped)), web.get("/d", encoded("deflate", deflated))]
        async with app(routes) as (url, _), client(compression=True) as c:
            s = c.session()
            return [await c.send(s, get(url + p), keep) for p in ("/c", "/g", "/d") for keep in (MB, None)]

    c_kept, c_dropped, g_kept, g_dropped, d_kept, d_dropped = asyncio.run(main())
    assert c_kept.response.body == b"one,two,three" and c_kept.nbytes == c_dropped.nbytes == 13
    assert c_dropped.response is None
    assert g_kept.response.body == payload and g_kept.nbytes == g_dropped.nbytes == len(zipped)
    assert g_kept.response.header("content-encoding") == "gzip" and g_kept.response.json is None  # many objects
    assert d_kept.response.body == payload and d_kept.nbytes == len(deflated)


def test_cookies_round_trip_per_session_and_deletion():
    async def forget(request: web.Request) -> web.Response:
        resp = web.Response(text="bye")
        resp.headers.add("Set-Cookie", "a=; Max-Age=0; Path=/")
        resp.headers.add("Set-Cookie", "b=; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        resp.headers.add("Set-Cookie", "c=3; Expires=Fri, 01 Jan 2100 00:00:00 GMT; HttpOnly")
        return resp

    async def main():
        async with TargetServer(TargetOptions()) as target, client() as c:
            base = target.url
            async with c.session() as alice, c.session() as bob:
                set_ = await c.send(alice, get(base + "/cookie/set?name=sid&value=u1"), MB)
                mine = await c.send(alice, get(base + "/cookie/check?name=sid&value=u1"), None)
                other = await c.send(bob, get(base + "/cookie/check?name=sid"), None)
                alice.cookies.update(a="1", b="2")
                async with app([web.get("/forget", forget)]) as (url, _):
                    gone = await c.send(alice, get(url + "/forget"), MB)
                return set_, mine, other, gone

    set_, mine, other, gone = asyncio.run(main())
    assert set_.response.cookies == {"sid": "u1"}
    assert mine.status == 200 and other.status == 401 and other.error == "http_4xx"
    assert gone.response.cookies == {"sid": "u1", "c": "3"}


@pytest.mark.parametrize("redirects, status, requests", [(0, 302, 1), (2, 302, 3), (3, 200, 4), (9, 200, 4)])
def test_redirects_are_followed_up_to_the_limit(redirects, status, requests):
    async def main():
        async with TargetServer(TargetOptions()) as target, client(redirects=redirects) as c:
            reply = await c.send(c.session(), get(target.url + "/redirect/3"), MB)
            return reply, target.stats.snapshot()["requests"]

    reply, seen = asyncio.run(main())
    assert (reply.status, reply.error, seen) == (status, None, requests)


def test_redirect_methods_cookies_and_absolute_locations():
    seen: list[tuple[str, str, bytes, str]] = []

    async def hop(request: web.Request) -> web.Response:
        code = int(request.query["code"])
        to = request.query.get("to", "/end")
        resp = web.Response(status=code, headers={"Location": to})
        resp.set_cookie(f"c{code}", "1")
        return resp

    async def end(request: web.Request) -> web.Response:
        seen.append((request.method, request.headers.get("Cookie", ""), await request.read(),
                     request.headers.get("Content-Type", "")))
        return web.Response(text="end")

    async def main():
        routes = [web.route("*", "/hop", hop), web.route("*", "/end", end)]
        async with app(routes) as (url, _), client(redirects=1) as c:
            for code in (301, 302, 303, 307, 308):
                s = c.session()
                out = Rendered("POST", f"{url}/hop?code={code}&to={url}/end", (("Content-Type", "text/plain"),), b"data")
                reply = await c.send(s, out, None)
                assert reply.status == 200, code
            put = await c.send(c.session(), Rendered("PUT", f"{url}/hop?code=302", (), b"x"), None)
            assert put.status == 200

    asyncio.run(main())
    assert [m for m, *_ in seen] == ["GET", "GET", "GET", "POST", "POST", "PUT"]
    assert [b for _, _, b, _ in seen] == [b"", b"", b"", b"data", b"data", b"x"]
    assert [t for *_, t in seen[:3]] == ["", "", ""]
    assert [c for _, c, *_ in seen[:5]] == ["c301=1", "c302=1", "c303=1", "c307=1", "c308=1"]


def test_timeout_per_step_overrides_the_default():
    async def main():
        async with app([web.get("/", slow(1.0))]) as (url, _), client(timeout_s=5.0) as c:
            return await c.send(c.session(), get(url + "/", timeout_s=0.1), MB)

    reply = asyncio.run(main())
    assert (reply.status, reply.error, reply.response) == (0, "timeout", None)
    assert 0.09 < (reply.done_ns - reply.sent_ns) / 1e9 < 0.5


def test_a_1mb_body_kept_and_discarded():
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=BIG)

    async def main():
        async with app([web.get("/", big)]) as (url, _), client() as c:
            s = c.session()
            return await c.send(s, get(url + "/"), MB), await c.send(s, get(url + "/"), None)

    kept, dropped = asyncio.run(main())
    assert kept.response.body == BIG and kept.nbytes == dropped.nbytes == MB and dropped.response is None


@pytest.mark.parametrize("driver", ["task", "inline"])
def test_cancellation_mid_request_propagates_and_closes_the_connection(driver):
    async def main():
        gone = asyncio.Event()

        async def slow(request: web.Request) -> web.Response:
            for _ in range(500):  # until the client leaves
                if request.transport is None or request.transport.is_closing():
                    gone.set()
                    break
                await asyncio.sleep(0.01)
            return web.Response(text="late")

        async def step(c, s, outcome: list):
            try:
                await c.send(s, get(url + "/slow"), None)
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

        async with app([web.get("/slow", slow), web.get("/", text)]) as (url, peers), client() as c:
            s, outcome = c.session(), []
            task = (asyncio.ensure_future if driver == "task" else InlineTask)(step(c, s, outcome))
            await asyncio.sleep(0.1)
            task.cancel()
            await asyncio.sleep(0)
            assert outcome == ["cancelled"] and task.done()
            await asyncio.wait_for(gone.wait(), 2)
            pool = next(iter(c._pools.values()))
            assert pool.connections == 0
            after = await c.send(s, get(url + "/"), None)
            return after.status, len(set(peers))

    assert asyncio.run(main()) == (200, 2)


def test_a_fixed_step_is_written_as_the_same_bytes_with_its_trace_and_cookies():
    """The bytes of a fixed :class:`StepRequest` are kept and spliced; on the wire they
    are what the step is rendered to on every attempt."""
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                heads.append(head + await reader.readexactly(4))  # every request here has a 4-byte body
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/p?q=1"
        plain = Rendered("PUT", url, (("X-A", "1"),), b"body")
        own = Rendered("POST", url, (("X-A", "1"), ("Cookie", "own=1")), b"body")
        async with server, client() as c:
            for base in (plain, own):
                for trace in ("00-aa-bb-01", None):
                    for jar in ({}, {"a": "1", "b": "2"}):
                        for fixed in (True, False):
                            s = c.session()
                            s.cookies.update(jar)
                            await c.send(s, StepRequest(base, trace, fixed), None)

    asyncio.run(main())
    assert len(heads) == 16
    assert [kept == rendered for kept, rendered in zip(heads[::2], heads[1::2])] == [True] * 8
    assert b"traceparent: 00-aa-bb-01\r\n" in heads[0] and b"traceparent" not in heads[4]
    assert b"\r\nCookie: a=1; b=2\r\n" in heads[2] and b"\r\nCookie: own=1; a=1; b=2\r\n" in heads[10]


@pytest.mark.parametrize("transport, target, paths, cert, kind", [
    ("auto", "http://127.0.0.1:8080", ["/a", "http://127.0.0.2/b"], None, "fast"),
    ("fast", "http://127.0.0.1", ["/a"], None, "fast"),
    ("auto", "", ["http://127.0.0.1/a"], None, "fast"),
    ("aiohttp", "http://127.0.0.1", ["/a"], None, "aiohttp"),
    ("auto", "https://127.0.0.1", ["/a"], None, "aiohttp"),
    ("auto", "http://127.0.0.1", ["/a", "https://127.0.0.1/b"], None, "aiohttp"),
    ("auto", "http://127.0.0.1", ["{{ base }}/a"], None, "aiohttp"),  # the scheme is not known in advance
    ("auto", "http://127.0.0.1", ["/a"], "client.pem", "aiohttp"),
])
def test_flow_client_kind(transport, target, paths, cert, kind):
    assert flow_client_kind(transport, target, paths, cert) == kind


@pytest.mark.parametrize("headers, methods, kind", [
    (("X-A", "traceparent"), ("GET", "HEAD", "post"), "fast"),
    (("X-A", "Expect"), ("GET",), "aiohttp"),
    (("upgrade",), ("GET",), "aiohttp"),
    (("Transfer-Encoding",), ("POST",), "aiohttp"),
    ((), ("GET", "connect"), "aiohttp"),
])
def test_flow_client_kind_for_what_the_core_does_not_speak(headers, methods, kind):
    assert flow_client_kind("auto", "http://127.0.0.1", ["/a"], None, headers, methods) == kind
