"""HTTP/2 and gRPC connections whose peer went silent (a partition: nothing
acknowledged, no RST, no FIN), on real loopback sockets: a peer that takes nothing
stands in for the link. What the client wrote and the peer did not take yet must not
reach it once the client closed (a fenced worker closes its connections): neither the
kernel nor the event loop nor grpcio may keep it to deliver when the link heals."""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import SilentPeer, run_on_loop

from loadray.engine.clock import SystemClock
from loadray.engine.grpc.channels import ChannelPool
from loadray.engine.h2 import H2Client
from loadray.engine.transport import TransportSettings
from loadray.flow.render import Rendered

BODY = 60_000  # within the peer's default flow-control window (65535): all of it is written at once
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # an empty HTTP/2 SETTINGS frame


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])  # workers run on uvloop under Ray
def test_closing_a_connection_to_a_silent_peer_delivers_nothing_it_had_not_taken(loop):
    peer = SilentPeer()

    async def main():
        c = H2Client(TransportSettings(h2_connections=1, timeout_s=10.0, connect_timeout_s=2.0), SystemClock())
        out = Rendered("POST", f"http://127.0.0.1:{peer.port}/", (), b"x" * BODY, None, 2)
        pending = asyncio.ensure_future(c.send(c.session(), out, None))
        await asyncio.sleep(0.3)  # the stream and its body written, stuck behind the silent peer
        await c.close()  # what a worker does when it fences itself
        return await pending

    reply = run_on_loop(main(), loop)
    peer.wake()
    assert reply.error == "cut"
    # a plain close delivers the whole request (~60 KB) and then EOF once the peer reads
    assert peer.received < BODY // 2, f"{peer.received} bytes reached the peer after the close ({peer.ended})"
    assert peer.ended == "ConnectionResetError"


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_closing_grpc_channels_to_a_silent_peer_delivers_nothing_they_had_not_taken(loop):
    peer = SilentPeer(SETTINGS)  # grpcio sends calls once the server's SETTINGS came

    async def main():
        pool = ChannelPool(TransportSettings())
        call = pool.channel(f"127.0.0.1:{peer.port}", False, 0).unary_unary("/bed.Silent/Call")
        pending = asyncio.ensure_future(call(b"x" * BODY, timeout=10))
        await asyncio.sleep(0.5)  # the call written, stuck behind the silent peer
        await pool.close()  # what a worker does when it fences itself
        try:
            await pending
        except (Exception, asyncio.CancelledError) as exc:  # AioRpcError or cancelled: not answered either way
            return type(exc).__name__
        return "answered"

    outcome = run_on_loop(main(), loop)
    peer.wake()
    assert outcome != "answered"
    # grpcio's own close delivers the whole call (~60 KB) and then EOF once the peer reads
    assert peer.received < BODY // 2, f"{peer.received} bytes reached the peer after the close ({peer.ended})"
    assert peer.ended == "ConnectionResetError"


def test_a_silent_http2_connection_is_abandoned_after_a_timeout_and_an_unanswered_ping():
    """The client stays open (a link, not the worker, went silent): a stream times out,
    the PING that follows goes unanswered, and the connection is reset with what it held;
    a stream still in flight on it times out at its own deadline."""
    peer = SilentPeer()

    async def main():
        c = H2Client(TransportSettings(h2_connections=1, timeout_s=0.3, connect_timeout_s=2.0), SystemClock())
        url = f"http://127.0.0.1:{peer.port}/"
        started = time.monotonic()
        first = asyncio.ensure_future(c.send(c.session(), Rendered("POST", url, (), b"x" * BODY, None, 2), None))
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(c.send(c.session(), Rendered("GET", url, (), None, 2.5, 2), None))
        replies = [await first]
        await asyncio.sleep(1.5)  # the timeout (0.3 s), the PING, a second without an answer
        await asyncio.to_thread(peer.wake)  # the link heals, the client still open
        replies.append(await second)
        waited = time.monotonic() - started
        await c.close()
        return replies, waited

    (first, second), waited = run_on_loop(main(), "asyncio")
    assert (first.error, second.error) == ("timeout", "timeout")
    assert waited >= 2.55  # the second at its own deadline (0.1 + 2.5 s), not when the connection was abandoned
    assert peer.received < BODY // 2, f"{peer.received} bytes reached the peer after the heal ({peer.ended})"
    assert peer.ended == "ConnectionResetError"


def test_a_slow_server_that_answers_the_ping_keeps_its_connection():
    from loadray.target.options import TargetOptions
    from loadray.target.server import TargetServer

    async def main():
        async with TargetServer(TargetOptions(latency_s=1.0)) as target:
            c = H2Client(TransportSettings(h2_connections=1, timeout_s=0.3, connect_timeout_s=2.0), SystemClock())
            late = await c.send(c.session(), Rendered("GET", target.url + "/", (), None, None, 2), None)
            await asyncio.sleep(1.5)  # the PING answered at once
            answered = await c.send(c.session(), Rendered("GET", target.url + "/", (), None, 5.0, 2), None)
            await c.close()
            return late, answered, target.h2_stats.connections_total

    late, answered, connections = asyncio.run(main())
    assert (late.error, answered.status, answered.error) == ("timeout", 200, None)
    assert connections == 1


def test_closing_one_pool_leaves_the_connections_of_another_to_the_same_address_alone():
    """Workers side by side in one process (tests): a pool's close resets no connection
    another pool still uses (grpcio does not say whose a socket is)."""
    from loadray.target.grpc_server import GrpcTarget, _types
    from loadray.target.options import TargetOptions

    request, reply = _types()["Request"], _types()["Reply"]

    async def main():
        async with GrpcTarget(TargetOptions(grpc_port=0)) as target:
            pools = [ChannelPool(TransportSettings()) for _ in range(2)]
            calls = [p.channel(target.address, False, 0).unary_unary(
                "/loadray.target.Target/Unary", request.SerializeToString, reply.FromString) for p in pools]
            for call in calls:
                await call(request(text="before"), timeout=5)
            await pools[0].close()
            after = await calls[1](request(text="after"), timeout=5)
            peers = set(target.peers)
            await pools[1].close()
            return after.text, peers

    text, peers = asyncio.run(main())
    assert text == "after" and len(peers) == 2  # answered on the connection it had: no reconnect
