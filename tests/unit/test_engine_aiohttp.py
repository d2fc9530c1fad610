"""The aiohttp fallback transport: what only it does (HEAD, https errors), and the factory.

Behaviour shared with the fast transport (statuses, errors, timeouts, keep-alive,
close, connection cap, HEAD) is tested for both in ``test_engine_http1.py``; options (TLS,
redirects, compression, trace propagation) in ``test_engine_transport_options.py``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest
from aiohttp import web

from helpers import start_app as serve_app
from loadray.engine.aiohttp_transport import AiohttpTransport
from loadray.engine.fast import FastTransport
from loadray.engine.transport import PreparedRequest, TransportSettings
from loadray.engine.transport_choice import choose_transport, make_transport
from loadray.engine.transport_choice import TransportChoiceError
from loadray.errors import LoadrayError, ScenarioError


class Results:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, int, str | None, int]] = []
        self.started: list[int | None] = []  # the send time each request reported
        self.timing: list[tuple[int, int | None]] = []  # (first body byte, chunks) each request reported

    def __call__(self, ctx: Any, status: int, error: str | None, nbytes: int, sent_ns: int | None = None,
                 first: int = 0, chunks: int | None = None) -> None:
        self.calls.append((ctx, status, error, nbytes))
        self.started.append(sent_ns)
        self.timing.append((first, chunks))

    async def wait(self, n: int, timeout: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.calls) < n:
            assert asyncio.get_running_loop().time() < deadline, self.calls
            await asyncio.sleep(0.005)


async def start_app(ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    async def root(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_route("*", "/", root)
    return await serve_app(app, ssl_context)


async def send(reqs: list[PreparedRequest], settings: TransportSettings, n: int = 1) -> Results:
    res = Results()
    transport = AiohttpTransport(reqs, settings, res)
    await transport.open()
    for i in range(n):
        transport.submit(i % len(reqs), i)
    await res.wait(n)
    await transport.close()
    assert sorted(c[0] for c in res.calls) == list(range(n))
    return res


def test_head_request_has_no_body() -> None:
    async def main() -> None:
        runner, port = await start_app()
        try:
            res = await send([PreparedRequest("h", "HEAD", f"http://127.0.0.1:{port}/")], TransportSettings())
        finally:
            await runner.cleanup()
        assert res.calls == [(0, 200, None, 0)]

    asyncio.run(main())


def test_plain_http_to_a_tls_port_is_an_error_not_a_hang() -> None:
    async def main() -> None:
        runner, port = await start_app()
        try:
            reqs = [PreparedRequest("s", "GET", f"https://127.0.0.1:{port}/")]
            res = await send(reqs, TransportSettings(timeout_s=2.0), 1)
        finally:
            await runner.cleanup()
        assert res.calls[0][1:] in {(0, "tls", 0), (0, "reset", 0), (0, "protocol", 0)}

    asyncio.run(main())


# -- the factory ------------------------------------------------------------------------


def req(url: str, method: str = "GET", headers: tuple[tuple[str, str], ...] = ()) -> PreparedRequest:
    return PreparedRequest("r", method, url, headers)


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        ([req("http://127.0.0.1:8080/")], "fast"),
        ([req("http://127.0.0.1:8080/a"), req("http://127.0.0.1:8080/b", "POST")], "fast"),
        ([req("https://127.0.0.1:8443/")], "aiohttp"),
        ([req("http://127.0.0.1:8080/"), req("http://127.0.0.1:8081/")], "aiohttp"),
        ([req("http://127.0.0.1:8080/", "HEAD")], "fast"),
        ([req("http://127.0.0.1:8080/", "CONNECT")], "aiohttp"),
        ([req("http://127.0.0.1:8080/", headers=(("Expect", "100-continue"),))], "aiohttp"),
    ],
)
def test_auto_picks_fast_unless_unsupported(requests: list[PreparedRequest], expected: str) -> None:
    assert choose_transport("auto", requests) == expected
    assert choose_transport("aiohttp", requests) == "aiohttp"
    cls = FastTransport if expected == "fast" else AiohttpTransport
    assert type(make_transport("auto", requests, TransportSettings(), lambda *a: None)) is cls


def test_factory_errors_are_the_engines_own_usage_errors() -> None:
    https = [req("https://127.0.0.1/")]
    with pytest.raises(TransportChoiceError, match="transport: the fast transport cannot send") as caught:
        make_transport("fast", https, TransportSettings(), lambda *a: None)
    assert isinstance(caught.value, LoadrayError) and not isinstance(caught.value, ScenarioError)
    assert caught.value.exit_code == 2
    with pytest.raises(TransportChoiceError, match="unknown transport"):
        make_transport("warp", https, TransportSettings(), lambda *a: None)
    bad = [req("http://127.0.0.1/", headers=(("X", "a\r\nInjected: 1"),))]
    with pytest.raises(TransportChoiceError, match="bad header"):
        make_transport("auto", bad, TransportSettings(), lambda *a: None)


def test_reports_when_each_request_really_started() -> None:
    """aiohttp runs a task per request: the send time it reports is when that task ran,
    never before the submit, so sent_ns stays true when tasks queue up."""
    import time

    async def main() -> tuple[int, Results]:
        runner, port = await start_app()
        try:
            submitted = time.monotonic_ns()
            res = await send([PreparedRequest("r", "GET", f"http://127.0.0.1:{port}/")], TransportSettings(), n=20)
            return submitted, res
        finally:
            await runner.cleanup()

    submitted, res = asyncio.run(main())
    assert len(res.started) == 20
    assert all(isinstance(t, int) and t >= submitted for t in res.started)
    assert all(c[1] == 200 for c in res.calls)
