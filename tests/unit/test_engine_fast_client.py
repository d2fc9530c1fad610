"""The flows' fast HTTP client on real loopback servers (an aiohttp app or the built-in
target), and the choice between it and the aiohttp client."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import time
import zlib

import pytest
from aiohttp import web

from loadray.engine.fast_client import FastFlowClient
from loadray.engine.flow_path import flow_client_kind
from loadray.engine.transport import TransportSettings
from loadray.flow.render import Rendered
from loadray.target.options import TargetOptions
from loadray.target.server import TargetServer

MB = 1 << 20
BIG = bytes(range(256)) * (MB // 256)


@contextlib.asynccontextmanager
async def client(**settings):
    c = FastFlowClient(TransportSettings(**settings), time.monotonic_ns)
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
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", peers
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


def test_keepalive_reuses_one_connection_and_keepalive_false_opens_one_per_request():
    async def main():
        counts = []
        for keepalive in (True, False):
            async with app([web.get("/", text)]) as (url, peers), client(keepalive=keepalive) as c:
                async with c.session() as s:
                    replies = [await c.send(s, get(url + "/"), None) for _ in range(10)]
                assert [r.status for r in replies] == [200] * 10 and all(r.nbytes == 2 for r in replies)
                counts.append(len(set(peers)))
        return counts

    assert asyncio.run(main()) == [1, 10]


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


def test_refused_port_is_connect_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def main():
        async with client() as c:
            return await c.send(c.session(), get(f"http://127.0.0.1:{port}/"), None)

    reply = asyncio.run(main())
    assert (reply.status, reply.error) == (0, "connect_refused") and reply.done_ns >= reply.sent_ns


def test_a_1mb_body_kept_and_discarded():
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=BIG)

    async def main():
        async with app([web.get("/", big)]) as (url, _), client() as c:
            s = c.session()
            return await c.send(s, get(url + "/"), MB), await c.send(s, get(url + "/"), None)

    kept, dropped = asyncio.run(main())
    assert kept.response.body == BIG and kept.nbytes == dropped.nbytes == MB and dropped.response is None


def test_cancellation_mid_request_propagates_and_closes_the_connection():
    async def main():
        gone = asyncio.Event()

        async def slow(request: web.Request) -> web.Response:
            for _ in range(500):  # until the client leaves
                if request.transport is None or request.transport.is_closing():
                    gone.set()
                    break
                await asyncio.sleep(0.01)
            return web.Response(text="late")

        async with app([web.get("/slow", slow), web.get("/", text)]) as (url, peers), client() as c:
            s = c.session()
            task = asyncio.ensure_future(c.send(s, get(url + "/slow"), None))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(gone.wait(), 2)
            pool = next(iter(c._pools.values()))
            assert pool.count == 0 and not pool.idle
            after = await c.send(s, get(url + "/"), None)
            return after.status, len(set(peers))

    assert asyncio.run(main()) == (200, 2)


def test_pool_cap_makes_requests_wait_for_a_free_connection():
    async def main():
        async with app([web.get("/", slow(0.05))]) as (url, peers), client(max_connections=2) as c:
            replies = await asyncio.gather(*(c.send(c.session(), get(url + "/"), None) for _ in range(6)))
            return [r.status for r in replies], len(set(peers))

    statuses, connections = asyncio.run(main())
    assert statuses == [200] * 6 and connections == 2


def test_a_keepalive_connection_closed_as_the_request_goes_out_is_retried_once():
    connections = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        answered = 0
        while await reader.readuntil(b"\r\n\r\n"):
            if len(connections) == 1 and answered == 1:  # the first connection dies on its 2nd request
                writer.close()
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            answered += 1

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        async with server, client() as c:
            s = c.session()
            replies = [await c.send(s, get(url), None) for _ in range(3)]
            return [r.status for r in replies], len(connections)

    assert asyncio.run(main()) == ([200, 200, 200], 2)


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
