"""ttfb_ns, chunks and per-chunk marks from every HTTP/1.1 client, against the built-in
target's streamed endpoints on 127.0.0.1 (real sockets, in-process server): the flow
path's two clients (the HTTP/1.1 core, aiohttp) and the fast path's two transports."""

from __future__ import annotations

import asyncio
import json
import statistics

import pytest

from loadray.engine.aiohttp_transport import AiohttpTransport
from loadray.engine.clock import SystemClock
from loadray.engine.fast import FastTransport
from loadray.engine.fast_client import FastFlowClient
from loadray.engine.flow_client import FlowClient
from loadray.engine.transport import PreparedRequest, TransportSettings
from loadray.flow.render import Rendered
from loadray.stream import StreamSpec
from loadray.target.options import TargetOptions
from loadray.target.server import TargetServer, new_event_loop

CLIENTS = {"core": FastFlowClient, "aiohttp": FlowClient}
MS = 1_000_000


def run(main):
    loop = new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


async def _sequential(client_kind: str, path: str, n: int, stream: StreamSpec | None = None, **kw):
    async with TargetServer(TargetOptions()) as srv:
        client = CLIENTS[client_kind](TransportSettings(), SystemClock())
        await client.open()
        session = client.session()
        await client.send(session, Rendered("GET", srv.url + "/"), None)  # the connection is open
        replies = [await client.send(session, Rendered(kw.get("method", "GET"), srv.url + path, kw.get("headers", ()),
                                                       kw.get("body"), stream=stream), None) for _ in range(n)]
        await client.close()
        return replies


@pytest.mark.parametrize("kind", CLIENTS)
def test_ten_chunks_5ms_apart_ttfb_5ms_and_total_50ms_at_p50(kind):
    replies = run(lambda: _sequential(kind, "/stream?chunks=10&interval=5ms", 15))
    assert {(r.status, r.error, r.chunks, r.nbytes) for r in replies} == {(200, None, 10, 160)}
    ttfb = statistics.median(r.ttfb_ns for r in replies) / MS
    total = statistics.median(r.done_ns - r.sent_ns for r in replies) / MS
    print(f"{kind}: ttfb p50 {ttfb:.3f} ms, total p50 {total:.3f} ms")
    assert 5 <= ttfb <= 7 and 50 <= total <= 52


@pytest.mark.parametrize("kind", CLIENTS)
@pytest.mark.parametrize("spec, path, sizes", [
    (StreamSpec("chunks"), "/stream?chunks=6&interval=5ms&size=100", [100] * 6),
    (StreamSpec("sse"), "/stream?chunks=6&interval=5ms&format=sse", [13] * 6),
])
def test_a_streamed_step_marks_each_chunk_as_it_arrives(kind, spec, path, sizes):
    (reply,) = run(lambda: _sequential(kind, path, 1, spec))
    assert reply.chunks == len(reply.marks) == 6 and [m[1] for m in reply.marks] == sizes
    times = [(t - reply.sent_ns) / MS for t, _, _, _ in reply.marks]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert times == sorted(times) and 5 <= times[0] <= 9 and 4 <= statistics.median(gaps) <= 6, times
    assert reply.ttfb_ns <= reply.marks[0][0] - reply.sent_ns


@pytest.mark.parametrize("kind", CLIENTS)
def test_the_fake_llm_streams_tokens_after_a_role_chunk(kind):
    body = json.dumps({"model": "m", "stream": True, "max_tokens": 5, "stream_options": {"include_usage": True}})
    (reply,) = run(lambda: _sequential(kind, "/v1/chat/completions?ttft=40ms&itl=10ms", 1, StreamSpec("sse", "openai"),
                                       method="POST", body=body.encode(),
                                       headers=(("Content-Type", "application/json"),)))
    tokens = [(round((t - reply.sent_ns) / MS), n, usage) for t, _, n, usage in reply.marks]
    assert [n for _, n, _ in tokens] == [0, 1, 1, 1, 1, 1, 0, 0] and tokens[6][2] == 5  # role, 5 tokens, usage, DONE
    assert reply.ttfb_ns < 20 * MS  # the role chunk comes at once: the first byte is not the first token
    first = [t for t, n, _ in tokens if n][0]
    assert 40 <= first <= 50


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_plain_body_is_one_chunk_and_no_body_no_ttfb(kind):
    plain, head = run(lambda: _pair(kind))
    assert (plain.status, plain.chunks, plain.marks) == (200, 1, None) and 0 < plain.ttfb_ns <= plain.done_ns - plain.sent_ns
    assert (head.status, head.ttfb_ns, head.marks) == (200, None, None)


async def _pair(kind):
    async with TargetServer(TargetOptions()) as srv:
        client = CLIENTS[kind](TransportSettings(), SystemClock())
        await client.open()
        s = client.session()
        out = [await client.send(s, Rendered("GET", srv.url + "/"), None),
               await client.send(s, Rendered("HEAD", srv.url + "/"), None)]
        await client.close()
        return out


@pytest.mark.parametrize("transport", [FastTransport, AiohttpTransport])
def test_the_fast_path_transports_report_the_first_byte_and_the_chunks(transport):
    async def main():
        async with TargetServer(TargetOptions()) as srv:
            done: dict = {}
            finished = asyncio.Event()

            def on_done(ctx, status, error, nbytes, sent_ns=None, first=0, chunks=None):
                done[ctx] = (status, nbytes, first, chunks)
                if len(done) == 2:
                    finished.set()

            reqs = [PreparedRequest("s", "GET", srv.url + "/stream?chunks=4&interval=5ms"),
                    PreparedRequest("r", "GET", srv.url + "/")]
            t = transport(reqs, TransportSettings(), on_done, SystemClock())
            await t.open()
            sent = SystemClock.monotonic_ns()
            t.submit(0, "s")
            t.submit(1, "r")
            await asyncio.wait_for(finished.wait(), 5)
            await t.close()
            return sent, done

    sent, done = run(main)
    assert done["s"][:2] == (200, 64) and done["s"][3] == 4 and 4 <= (done["s"][2] - sent) / MS <= 15
    assert done["r"][:2] == (200, 3) and done["r"][3] == 1 and done["r"][2] > sent
