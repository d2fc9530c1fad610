"""The static flow steps' connection (:mod:`loadray.engine.http1.cookie_conn`): it finds a
response's ``Set-Cookie`` headers from its raw bytes, without a callback per header, and
must keep exactly what ``CaptureConn``'s ``on_header`` kept: table tests of
:func:`kept_headers`, then flows against a raw server on 127.0.0.1 whose answers split
their header block over several reads, carry an interim response, spell the name in
capitals, mention it in a body, answer a HEAD, and send a chunked body."""

from __future__ import annotations

import asyncio
import time

import helpers
import pyarrow as pa
import pytest

from loadray.engine.clock import SystemClock
from loadray.engine.flow_path import FlowPath, step_names
from loadray.engine.http1.cookie_conn import CookieConn, kept_headers
from loadray.engine.row_buffer import FLOW_ROW, RowBuffer
from loadray.engine.worker import transport_settings

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"


@pytest.mark.parametrize("block, kept", [
    (OK + b"\r\nok", []),
    (OK + b"Set-Cookie: a=1\r\nSET-COOKIE: b=2; Path=/\r\n\r\nok", [(b"Set-Cookie", b"a=1"), (b"SET-COOKIE", b"b=2; Path=/")]),
    (OK + b"Location: /x\r\nset-cookie:c=3  \r\n\r\n", [(b"Location", b"/x"), (b"set-cookie", b"c=3  ")]),  # as httptools hands them
    (b"HTTP/1.1 103 Early Hints\r\nSet-Cookie: early=1\r\n\r\n" + OK + b"Set-Cookie: d=4\r\n\r\nok",
     [(b"Set-Cookie", b"d=4")]),  # an interim response's are not the response's
    (OK + b"X-Note: set-cookie: no=1\r\n\r\nset-cookie: body=1", []),  # the name elsewhere
    (OK + b"Set-Cookie: e=5\r\n\r\nokHTTP/1.1 junk", [(b"Set-Cookie", b"e=5")]),  # bytes after the response
])
def test_kept_headers_are_the_final_responses_set_cookie_and_location(block, kept):
    assert kept_headers(block) == kept


def _response(path: str, n: int) -> list[bytes]:
    """What the raw server writes for ``path`` (one element per write, apart in time)."""
    if path == "/a":  # an interim response, then a header block over three reads
        return [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Len", b"gth: 2\r\nSET-COO",
                b"KIE: sid=u%d\r\n\r\nok" % n]
    if path == "/b":  # the name in a body only; and a cookie that deletes one
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\nset-cookie: gone=1; Max-Age=0\r\n\r\nset-cookie: x=1\r\n"]
    if path == "/h":  # HEAD: the header block is the whole response
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nSet-Cookie: h=%d\r\n\r\n" % n]
    return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", b"3\r\ncde\r\n0\r\n\r\n"]


async def _serve(seen: list[tuple[bytes, bytes]]) -> tuple[asyncio.AbstractServer, int]:
    """A raw HTTP/1.1 server on 127.0.0.1: records (path, Cookie) and answers :func:`_response`."""
    count = 0

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                cookie = [line[8:] for line in head.split(b"\r\n") if line.lower().startswith(b"cookie: ")]
                seen.append((path, cookie[0] if cookie else b""))
                count += 1
                for piece in _response(path.decode(), count):
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.02)  # its own read
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_static_steps_keep_cookies_found_in_split_interim_head_and_chunked_answers():
    steps = [{"name": "a", "path": "/a"}, {"name": "b", "path": "/b"}, {"name": "h", "path": "/h", "method": "HEAD"},
             {"name": "c", "path": "/c"}]
    seen: list[tuple[bytes, bytes]] = []

    async def main():
        server, port = await _serve(seen)
        url = f"http://127.0.0.1:{port}"
        scn = helpers.scenario(url, workers=1, flows=[{"name": "f", "steps": steps}])
        settings = transport_settings(scn, "")
        names, first = step_names(scn)
        flows = FlowPath(scn, 0, 1, SystemClock(), RowBuffer(0, names, 0, FLOW_ROW, first), settings, url, None)
        assert flows.static is not None and flows.static.pools[f"127.0.0.1:{port}"]._conn_class is CookieConn
        finished = asyncio.Event()
        flows.on_flow_done = lambda ctx, ok: finished.set()
        await flows.open()
        now = time.monotonic_ns()
        flows.submit(0, (now, now, 0, 0, 0))
        await asyncio.wait_for(finished.wait(), 5)
        await flows.close()
        server.close()
        return pa.Table.from_batches([flows.runner.buffer.flush()]).to_pydict()

    rows = asyncio.run(main())
    assert seen == [(b"/a", b""), (b"/b", b"sid=u1"), (b"/h", b"sid=u1"), (b"/c", b"sid=u1; h=3")]
    assert rows["status"] == [200] * 4 and rows["error"] == [None] * 4
    assert rows["bytes_in"] == [2, 17, 0, 5] and rows["chunks"] == [1, 1, 0, 2]
