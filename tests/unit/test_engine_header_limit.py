"""A hostile or broken target must not grow a worker's memory through an HTTP/1.1
response's header block: the core (:mod:`loadray.engine.http1`) refuses a block over
``MAX_HEADER_BYTES`` (interim 1xx blocks and a chunked body's trailer count) at once, as
``protocol``, and resets the connection; the flow client keeps at most
``MAX_KEPT_HEADERS`` headers. Real sockets on 127.0.0.1: a raw server sends up to 50 MB
of header lines; the test's process (client and server) is traced by ``tracemalloc``.
Fronts: the open-model fast path (``Conn``, ``HeadConn``), a static flow step
(``CookieConn``) and a flow-client step (``CaptureConn``: no body kept, body kept)."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from typing import Any

import helpers
import pyarrow as pa
import pytest

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

from loadray.engine.clock import SystemClock
from loadray.engine.fast import FastTransport
from loadray.engine.fast_client import FastFlowClient
from loadray.engine.flow_path import FlowPath, step_names
from loadray.engine.http1.limits import MAX_HEADER_BYTES, MAX_KEPT_HEADERS
from loadray.engine.row_buffer import FLOW_ROW, RowBuffer
from loadray.engine.transport import PreparedRequest, TransportSettings
from loadray.engine.worker import transport_settings
from loadray.flow.render import Rendered

MB = 1 << 20
TIMEOUT_S = 5.0  # the request's timeout: a refusal comes long before it
DETAIL = "RefusedResponse: response header block over 256 KiB"
MANY = f"RefusedResponse: response has over {MAX_KEPT_HEADERS} headers"
FRONTS = ["fast", "fast-head", "static", "flow", "flow-body"]
STATUS = b"HTTP/1.1 200 OK\r\n"


class Hostile:
    """A raw HTTP/1.1 server on 127.0.0.1 that answers each request with ``head`` then
    ``line`` over and over, up to ``total`` bytes in all, then ``tail``; it stops early
    when the client resets the connection (``reset``), and counts what it ``sent``."""

    def __init__(self, head: bytes, line: bytes = b"", total: int = 0, tail: bytes = b"", pieces: int = 1) -> None:
        self.head, self.line, self.total, self.tail, self.pieces = head, line, total, tail, pieces
        self.sent = 0
        self.reset = False
        self.port = 0
        self.server: Any = None

    async def start(self) -> Hostile:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await self._write(writer, self.head)
            if self.line:
                block = self.line * max(1, (64 * 1024) // len(self.line))  # one object, written again and again
                while self.sent + len(block) <= self.total:
                    await self._write(writer, block)
            await self._write(writer, self.tail)
            await asyncio.sleep(TIMEOUT_S * 2)  # the client decides
        except (ConnectionError, asyncio.IncompleteReadError):
            self.reset = True
        except asyncio.CancelledError:  # the test is over
            pass
        finally:
            writer.transport.abort()

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        step = max(1, -(-len(data) // self.pieces))
        for i in range(0, len(data), step):  # ``pieces`` reads apart in time
            writer.write(data[i: i + step])
            await writer.drain()
            if self.pieces > 1:
                await asyncio.sleep(0.01)
        self.sent += len(data)

    def close(self) -> None:
        self.server.close()


async def _fast(port: int, method: str) -> tuple[int, str | None, str | None]:
    got: asyncio.Future = asyncio.get_running_loop().create_future()
    transport = FastTransport([PreparedRequest("r", method, f"http://127.0.0.1:{port}/")],
                              TransportSettings(timeout_s=TIMEOUT_S), lambda ctx, status, error, *_: got.set_result(
                                  (status, error)))
    await transport.open()
    transport.submit(0, 0)
    try:
        status, error = await asyncio.wait_for(got, TIMEOUT_S * 2)
    finally:
        await transport.close()
    return status, error, None  # (fast rows have no detail)


async def _static(port: int) -> tuple[int, str | None, str | None]:
    url = f"http://127.0.0.1:{port}"
    scn = helpers.scenario(url, workers=1, flows=[{"name": "f", "steps": [{"name": "a", "path": "/"}]}],
                           http={"timeout": f"{TIMEOUT_S}s"})
    names, first = step_names(scn)
    flows = FlowPath(scn, 0, 1, SystemClock(), RowBuffer(0, names, 0, FLOW_ROW, first), transport_settings(scn), url,
                     None)
    finished = asyncio.Event()
    flows.on_flow_done = lambda ctx, ok: finished.set()
    await flows.open()
    now = time.monotonic_ns()
    flows.submit(0, (now, now, 0, 0, 0))
    try:
        await asyncio.wait_for(finished.wait(), TIMEOUT_S * 2)
    finally:
        await flows.close()
    rows = pa.Table.from_batches([flows.runner.buffer.flush()]).to_pydict()
    return rows["status"][0], rows["error"][0], rows["error_detail"][0]


async def _flow(port: int, keep: int | None) -> tuple[int, str | None, str | None]:
    client = FastFlowClient(TransportSettings(timeout_s=TIMEOUT_S), SystemClock())
    await client.open()
    try:
        reply = await client.send(client.session(), Rendered("GET", f"http://127.0.0.1:{port}/", (), None), keep)
    finally:
        await client.close()
    return reply.status, reply.error, reply.detail


def outcome(front: str, server: Hostile, uv: bool = False) -> tuple[tuple[int, str | None, str | None], float, int]:
    """``(status, error, detail)`` of one request of ``front`` to ``server`` (on uvloop
    with ``uv``), the seconds it took and the peak of the memory traced meanwhile
    (client and server)."""

    async def main() -> tuple[tuple[int, str | None, str | None], float]:
        await server.start()
        t0 = time.monotonic()
        try:
            if front.startswith("fast"):
                got = await _fast(server.port, "HEAD" if front == "fast-head" else "GET")
            elif front == "static":
                got = await _static(server.port)
            else:
                got = await _flow(server.port, 1000 if front == "flow-body" else None)
            took = time.monotonic() - t0
            await asyncio.sleep(0.1)  # the server's writes see the reset
            return got, took
        finally:
            server.close()

    tracemalloc.start()
    try:
        got, took = uvloop.run(main()) if uv else asyncio.run(main())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return got, took, peak


# -- a block that never ends: refused at once, memory bounded ------------------------------

ENDLESS = {
    "one-value": (STATUS + b"X-A: ", b"a" * 64),  # one header whose value never ends
    "set-cookies": (STATUS, b"Set-Cookie: a=1\r\n"),  # a million cookies
    "interims": (b"", b"HTTP/1.1 103 Early Hints\r\nSet-Cookie: a=1\r\n\r\n"),  # 1xx after 1xx
}


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("shape", sorted(ENDLESS))
def test_an_endless_header_block_is_refused_at_once_as_protocol_with_memory_bounded(front: str, shape: str) -> None:
    head, line = ENDLESS[shape]
    server = Hostile(head, line, 50 * MB)
    (status, error, detail), took, peak = outcome(front, server)
    assert (status, error) == (0, "protocol")
    if front.startswith("fast"):
        assert detail is None
    else:  # a flow step keeps each Set-Cookie: the count refuses them first
        assert detail == (MANY if shape == "set-cookies" and front.startswith("flow") else DETAIL)
    assert took < 1.5, took  # not at the timeout (5 s)
    assert peak < 4 * MB, peak  # the server sent far more
    assert server.reset and server.sent < 25 * MB  # reset: it stopped sending


# -- the limit itself: exactly 256 KiB passes, one byte more does not ------------------------


def block_of(size: int, framing: bytes = b"Content-Length: 2\r\n") -> bytes:
    """A header block of exactly ``size`` bytes (its blank line included)."""
    fixed = STATUS + framing + b"X-Pad: " + b"\r\n\r\n"
    return STATUS + framing + b"X-Pad: " + b"p" * (size - len(fixed)) + b"\r\n\r\n"


@pytest.mark.parametrize("front", FRONTS)
@pytest.mark.parametrize("extra", [0, 1])
def test_a_header_block_of_256_kib_passes_and_one_byte_more_is_refused(front: str, extra: int) -> None:
    block = block_of(MAX_HEADER_BYTES + extra)
    assert len(block) == MAX_HEADER_BYTES + extra
    (status, error, detail), took, _ = outcome(front, Hostile(block + b"ok", pieces=4))
    if extra:
        assert (status, error, detail) == (0, "protocol", None if front.startswith("fast") else DETAIL)
    else:
        assert (status, error, detail) == (200, None, None)


@pytest.mark.parametrize("front", ["fast", "static", "flow", "flow-body"])
def test_interim_blocks_count_toward_the_limit(front: str) -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: " + b"l" * (MAX_HEADER_BYTES // 2) + b"\r\n\r\n"
    final = block_of(MAX_HEADER_BYTES // 2)  # each under the limit, both over it
    (status, error, detail), _, _ = outcome(front, Hostile(interim + final + b"ok", pieces=4))
    assert (status, error, detail) == (0, "protocol", None if front.startswith("fast") else DETAIL)


# -- a body: its bytes are not the header block's -------------------------------------------


@pytest.mark.parametrize("front", ["fast", "static", "flow", "flow-body"])
def test_a_long_chunked_stream_of_tiny_chunks_is_not_refused(front: str) -> None:
    # 60,000 one-byte chunks: 360 KB of chunk framing around 60 KB of body
    chunks = 60_000
    server = Hostile(STATUS + b"Transfer-Encoding: chunked\r\n\r\n", b"1\r\nx\r\n", chunks * 6, b"0\r\n\r\n")
    (status, error, detail), _, _ = outcome(front, server)
    assert (status, error, detail) == (200, None, None)


@pytest.mark.parametrize("front", ["fast", "static", "flow", "flow-body"])
@pytest.mark.parametrize("head, line, why", [pytest.param(b"X-T: ", b"t" * 64, DETAIL, id="one-value"),
                                             pytest.param(b"", b"Set-Cookie: t=1\r\n", MANY, id="set-cookies")])
def test_an_endless_trailer_is_refused_too(front: str, head: bytes, line: bytes, why: str) -> None:
    chunked = STATUS + b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"
    server = Hostile(chunked + head, line, 50 * MB)
    (status, error, detail), took, peak = outcome(front, server)
    # (the fast path and static steps keep no trailer: its bytes count all the same)
    kept = front.startswith("flow") and why == MANY
    assert (status, error, detail) == (0, "protocol", None if front == "fast" else MANY if kept else DETAIL)
    assert took < 1.5 and peak < 4 * MB, (took, peak)


# -- the headers a flow step keeps ----------------------------------------------------------


@pytest.mark.parametrize("front, line", [("flow-body", b"A: 1\r\n"), ("flow", b"Set-Cookie: a=1\r\n"),
                                         ("static", b"Set-Cookie: a=1\r\n")])
@pytest.mark.parametrize("extra", [0, 1])
def test_a_step_keeps_at_most_max_kept_headers(front: str, line: bytes, extra: int) -> None:
    framing = b"Content-Length: 2\r\n"
    wanted = MAX_KEPT_HEADERS + extra - (1 if front == "flow-body" else 0)  # (flow-body keeps Content-Length too)
    head = STATUS + framing + line * wanted + b"\r\n"
    (status, error, detail), _, _ = outcome(front, Hostile(head + b"ok"))
    if extra:
        assert (status, error, detail) == (0, "protocol", f"RefusedResponse: response has over {MAX_KEPT_HEADERS} headers")
    else:
        assert (status, error, detail) == (200, None, None)


# -- on uvloop (the loop reads at most 256,000 bytes at a time: less than the limit) ----------


@pytest.mark.skipif(uvloop is None, reason="uvloop not installed")
@pytest.mark.parametrize("front", ["fast", "static", "flow-body"])
@pytest.mark.parametrize("extra", [0, 1, 50 * MB])
def test_on_uvloop_the_limit_is_the_same(front: str, extra: int) -> None:
    if extra > 1:
        server = Hostile(*ENDLESS["one-value"], extra)
    else:
        server = Hostile(block_of(MAX_HEADER_BYTES + extra) + b"ok", pieces=3)
    (status, error, detail), took, peak = outcome(front, server, uv=True)
    if extra:
        assert (status, error, detail) == (0, "protocol", None if front == "fast" else DETAIL)
        assert took < 1.5 and peak < 4 * MB, (took, peak)
    else:
        assert (status, error, detail) == (200, None, None)
