"""Micro benchmark of the transports: closed loop against a fast local server.

    python benchmarks/transport_micro.py [--duration 5] [--concurrency 64]

Starts nginx (``return 200 "ok"``) on a loopback port with a temporary config if
``/usr/sbin/nginx`` (or ``--nginx``) exists, else a minimal raw asyncio server in a
subprocess; pins the server to the last core and this process to the first (as in
DESIGN §4); then drives each transport on uvloop with ``C`` requests always in
flight for ``--duration`` seconds and prints requests/s and CPU-µs per request
(user + system CPU of this process ÷ requests, and the two apart). The ``lean`` row is a bare
Protocol + httptools loop with no pool, timeouts or callbacks: the floor on this
machine, so the ``fast`` row can be judged against it. Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

import httptools

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import fast_server  # noqa: E402

from loadray.engine.fast import build_request_bytes
from loadray.engine.http1 import endpoint
from loadray.engine.transport import PreparedRequest, TransportSettings
from loadray.engine.transport_choice import make_transport

class _LeanConn(asyncio.Protocol):
    """Calibration floor: the leanest Protocol + httptools client (no pool, no timeouts)."""

    count = 0

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.parser = httptools.HttpResponseParser(self)
        self.nbytes = 0

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.nbytes += len(body)

    def on_message_complete(self) -> None:
        _LeanConn.count += 1
        if _LeanConn.running:
            self.transport.write(self.payload)

    running = True


async def drive_lean(url: str, concurrency: int, duration: float) -> tuple[int, int, float, tuple]:
    loop = asyncio.get_running_loop()
    _, host, port = endpoint(url)
    payload = build_request_bytes(PreparedRequest("root", "GET", url), keepalive=True)
    _LeanConn.count, _LeanConn.running = 0, True
    conns = [
        (await loop.create_connection(lambda: _LeanConn(payload), host, port))[1]
        for _ in range(concurrency)
    ]
    for c in conns:
        c.transport.write(payload)
    await asyncio.sleep(min(0.5, duration / 5))
    c0, t0, p0 = _LeanConn.count, time.perf_counter(), os.times()
    await asyncio.sleep(duration)
    c1, t1, p1 = _LeanConn.count, time.perf_counter(), os.times()
    _LeanConn.running = False
    await asyncio.sleep(0.05)
    for c in conns:
        c.transport.abort()
    return c1 - c0, 0, t1 - t0, (p1.user - p0.user, p1.system - p0.system)


async def drive(kind: str, url: str, concurrency: int, duration: float) -> tuple[int, int, float, tuple]:
    """Closed loop; returns (completed, errors, wall seconds, (user, system) CPU seconds)."""
    settings = TransportSettings(max_connections=concurrency, timeout_s=10.0)
    count = 0
    errors = 0
    running = True
    transport = None

    def on_done(ctx: object, status: int, error: str | None, nbytes: int, sent_ns: int | None = None,
                first: int = 0, chunks: int | None = None) -> None:
        nonlocal count, errors, in_flight
        count += 1
        if error is not None:
            errors += 1
        if running:
            transport.submit(0, None)  # type: ignore[union-attr]
        else:
            in_flight -= 1
            if in_flight == 0:
                drained.set()

    transport = make_transport(kind, [PreparedRequest("root", "GET", url)], settings, on_done)
    drained = asyncio.Event()
    in_flight = concurrency
    await transport.open(prewarm=concurrency)
    # short warm-up, then measure
    for _ in range(concurrency):
        transport.submit(0, None)
    await asyncio.sleep(min(0.5, duration / 5))
    c0, e0 = count, errors
    t0, p0 = time.perf_counter(), os.times()
    await asyncio.sleep(duration)
    c1, e1 = count, errors
    t1, p1 = time.perf_counter(), os.times()
    running = False
    try:
        await asyncio.wait_for(drained.wait(), 10)
    except asyncio.TimeoutError:
        pass
    await transport.close()
    return c1 - c0, e1 - e0, t1 - t0, (p1.user - p0.user, p1.system - p0.system)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--concurrency", "-c", type=int, default=64)
    ap.add_argument(
        "--transports",
        default="lean,fast,aiohttp",
        help="comma list of fast, aiohttp, lean (lean = a bare Protocol+httptools loop: "
        "the floor of this machine, for calibration)",
    )
    ap.add_argument("--no-pin", action="store_true", help="do not pin server and client to cores")
    ap.add_argument("--url", help="use this running server instead of starting one")
    args = ap.parse_args()

    import uvloop

    ncpu = os.cpu_count() or 1
    server_cm = contextlib.nullcontext((args.url, "given")) if args.url else fast_server(cpu=ncpu - 1)
    with server_cm as (url, server):
        if not args.no_pin and ncpu >= 2:
            os.sched_setaffinity(0, {0})
        url = url.rstrip("/") + "/"
        print(f"server: {server} on {url}  client: uvloop, C={args.concurrency}, {args.duration:g} s each")
        rows = []
        for kind in args.transports.split(","):
            if kind == "lean":
                coro = drive_lean(url, args.concurrency, args.duration)
            else:
                coro = drive(kind, url, args.concurrency, args.duration)
            n, errs, wall, cpu = uvloop.run(coro)
            user, system = cpu
            per = 1e6 / max(n, 1)
            rows.append((kind, n / wall, (user + system) * per, user * per, system * per, n, errs,
                         (user + system) / wall))
    print(f"{'transport':<10} {'requests/s':>12} {'CPU-µs/req':>11} {'user':>6} {'sys':>6} "
          f"{'requests':>10} {'errors':>7} {'client CPU':>10}")
    for kind, rps, us, u, sy, n, errs, util in rows:
        print(f"{kind:<10} {rps:>12,.0f} {us:>11.2f} {u:>6.2f} {sy:>6.2f} {n:>10,} {errs:>7} {util:>9.0%}")


if __name__ == "__main__":
    main()
