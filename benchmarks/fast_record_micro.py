"""CPU per request of the fast path's own Python work, without sockets: a connection of
the HTTP/1.1 core fed canned responses in a loop, each outcome recorded by the open
loop's ``on_done`` into the row buffer, flushed to Arrow every 65,536 rows.

    python benchmarks/fast_record_micro.py [--requests 400000] [--body 2] [--chunked]

Measures what changes when the fast path records ``ttfb_ns``/``chunks`` (run it on two
commits to compare); the loopback syscalls that dominate the real figure are left out
(see transport_micro.py for those). Prints one line: ns of CPU per request, best of 5.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from loadray.engine.clock import SystemClock
from loadray.engine.fast import FastTransport
from loadray.engine.http1 import Conn
from loadray.engine.open_loop import OpenLoop
from loadray.engine.row_buffer import FAST_ROW, RowBuffer
from loadray.engine.transport import PreparedRequest, TransportSettings

FLUSH_EVERY = 1 << 16


class _Sink:
    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str) -> None:
        return None

    def abort(self) -> None:
        pass


def _response(body: int, chunked: bool) -> bytes:
    if chunked:
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (body, b"x" * body)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (body, b"x" * body)


async def _run(n: int, response: bytes) -> float:
    clock = SystemClock()
    buffer = RowBuffer(0, ["root"], 0, FAST_ROW)
    loop = OpenLoop(buffer, clock, 1, 1000)
    transport = FastTransport([PreparedRequest("root", "GET", "http://127.0.0.1:9/")], TransportSettings(),
                              loop.on_done, clock)
    pool = transport._pool
    pool._start()
    conn = Conn(pool)
    pool._conns.add(conn)
    conn.connection_made(_Sink())
    now = clock.monotonic_ns
    t0 = time.process_time()
    for i in range(n):
        loop.counters.sent += 1
        pool.submit(0, (0, now(), 0, 0, 0))
        conn.data_received(response)
        if i % FLUSH_EVERY == FLUSH_EVERY - 1:
            buffer.flush()
    buffer.flush()
    spent = time.process_time() - t0
    await pool.close()
    return spent / n * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=400_000)
    ap.add_argument("--body", type=int, default=2)
    ap.add_argument("--chunked", action="store_true")
    args = ap.parse_args()
    response = _response(args.body, args.chunked)
    best = min(asyncio.run(_run(args.requests, response)) for _ in range(5))
    print(f"fast path, no sockets: {best:.0f} ns CPU per request ({args.body} B body"
          f"{', chunked' if args.chunked else ''})")


if __name__ == "__main__":
    main()
