"""The aiohttp transport and flow client on a connection whose peer went silent (a
partition: nothing acknowledged, no RST, no FIN), on real loopback sockets: a peer that
takes nothing stands in for the link. A request recorded as ``timeout`` or ``cut`` must
not reach the peer once the link heals: the connection it was written to is reset with
what it held (a graceful close leaves the kernel retransmitting it)."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from aiohttp import web
from helpers import SilentPeer, run_on_loop, start_app

from loadray.engine.aiohttp_transport import AiohttpTransport
from loadray.engine.clock import SystemClock
from loadray.engine.flow_client import FlowClient
from loadray.engine.transport import PreparedRequest, TransportSettings
from loadray.flow.render import Rendered
from loadray.kinds import CUT, TIMEOUT

BODY = 60_000  # far more than the silent peer's receive buffer: most of it stays on the client's side
LOOPS = pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # workers run on uvloop under Ray


class Done:
    """The transport's ``on_done``: each request's (status, error)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str | None]] = []

    def __call__(self, ctx, status, error, nbytes, *timing) -> None:
        self.rows.append((status, error))

    async def wait(self, n: int = 1) -> None:
        for _ in range(1000):
            if len(self.rows) >= n:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.rows)} of {n} requests done")


def _transport(peer: SilentPeer, timeout_s: float, scheme: str = "http", **options) -> AiohttpTransport:
    """A transport for one large POST to ``peer``; its ``on_done`` is a :class:`Done`."""
    request = PreparedRequest("post", "POST", f"{scheme}://127.0.0.1:{peer.port}/", (), b"x" * BODY)
    settings = TransportSettings(timeout_s=timeout_s, connect_timeout_s=2.0, max_connections=1, **options)
    return AiohttpTransport([request], settings, Done())


async def _time_out_then_heal(peer: SilentPeer, transport: AiohttpTransport) -> list:
    """Send the request and let it time out; the link heals with the transport still
    open (a link, not the worker, went silent). The rows."""
    await transport.open()
    transport.submit(0, None)
    await transport.on_done.wait()
    await asyncio.sleep(0.2)
    await asyncio.to_thread(peer.wake)
    await transport.close()
    return transport.on_done.rows


def _delivered_nothing(peer: SilentPeer) -> None:
    # a graceful close delivers the whole request (~60 KB) and then EOF once the peer reads
    assert peer.received < BODY // 2, f"{peer.received} bytes reached the peer afterwards ({peer.ended})"
    assert peer.ended == "ConnectionResetError", (peer.received, peer.ended)


@LOOPS
def test_a_request_timed_out_on_a_silent_connection_is_not_delivered_when_the_link_heals(loop):
    peer = SilentPeer()

    assert run_on_loop(_time_out_then_heal(peer, _transport(peer, 0.3)), loop) == [(0, TIMEOUT)]
    _delivered_nothing(peer)


@LOOPS
def test_closing_the_transport_with_a_request_on_a_silent_connection_delivers_nothing_later(loop):
    peer = SilentPeer()

    async def main():
        transport = _transport(peer, 10.0)
        await transport.open()
        transport.submit(0, None)
        await asyncio.sleep(0.3)  # the request written, stuck behind the silent peer
        await transport.close()  # what a worker does when it fences itself or stops
        return transport.on_done.rows

    assert run_on_loop(main(), loop) == [(0, CUT)]
    peer.wake()
    _delivered_nothing(peer)


@LOOPS
def test_a_request_timed_out_in_the_middle_of_its_response_is_not_delivered_when_the_link_heals(loop):
    """The peer answered at once (headers and a byte of a 10-byte body), then went
    silent: the response is let go of unfinished, with the request still queued."""
    peer = SilentPeer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nx")

    assert run_on_loop(_time_out_then_heal(peer, _transport(peer, 0.3)), loop) == [(0, TIMEOUT)]
    _delivered_nothing(peer)


@LOOPS
def test_a_request_timed_out_on_a_silent_tls_connection_is_not_delivered_when_the_link_heals(pki, loop):
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(pki.server_cert, pki.server_key)
    peer = SilentPeer(tls=server)

    transport = _transport(peer, 0.5, "https", ca_file=str(pki.ca))
    assert run_on_loop(_time_out_then_heal(peer, transport), loop) == [(0, TIMEOUT)]
    _delivered_nothing(peer)


async def _flow_step(peer: SilentPeer, timeout_s: float | None = None):
    """An open flow client, a session and a 60 KB POST step to ``peer`` (its own timeout:
    ``timeout_s``)."""
    client = FlowClient(TransportSettings(timeout_s=10.0, connect_timeout_s=2.0), SystemClock())
    await client.open()
    out = Rendered("POST", f"http://127.0.0.1:{peer.port}/", (), b"x" * BODY, timeout_s)
    return client, client.session(), out


@LOOPS
def test_a_flow_step_timed_out_on_a_silent_connection_is_not_delivered_when_the_link_heals(loop):
    peer = SilentPeer()

    async def main():
        client, session, out = await _flow_step(peer, timeout_s=0.3)
        reply = await client.send(session, out, None)
        await asyncio.sleep(0.2)
        await asyncio.to_thread(peer.wake)
        await session.close()
        await client.close()
        return reply.error

    assert run_on_loop(main(), loop) == TIMEOUT
    _delivered_nothing(peer)


@LOOPS
def test_closing_the_flow_client_with_a_step_on_a_silent_connection_delivers_nothing_later(loop):
    """The connector closed under a step still in flight (its connection acquired)."""
    peer = SilentPeer()

    async def main():
        client, session, out = await _flow_step(peer)
        pending = asyncio.ensure_future(client.send(session, out, None))
        await asyncio.sleep(0.3)
        await client.close()
        reply = await asyncio.wait_for(pending, 5)
        await session.close()
        return reply.status

    assert run_on_loop(main(), loop) == 0
    peer.wake()
    _delivered_nothing(peer)


def test_healthy_keep_alive_connections_are_reused():
    """Nothing changes for requests that complete: one connection (kept alive) for all."""
    peers: list[tuple[str, int]] = []

    async def main():
        async def root(request: web.Request) -> web.Response:
            peers.append(request.transport.get_extra_info("peername"))
            return web.Response(text="hello")

        app = web.Application()
        app.router.add_post("/", root)
        runner, port = await start_app(app)
        try:
            done = Done()
            request = PreparedRequest("post", "POST", f"http://127.0.0.1:{port}/", (), b"x" * 1000)
            transport = AiohttpTransport([request], TransportSettings(max_connections=1), done)
            await transport.open()
            for _ in range(3):
                transport.submit(0, None)
                await done.wait(len(done.rows) + 1)
            await transport.close()
            return done.rows
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == [(200, None)] * 3
    assert len(peers) == 3 and len(set(peers)) == 1
