"""The floor under ``flows.py``'s two cases: the same traffic from a bare uvloop Protocol +
httptools client (no pool, timeouts, rows or flows), in the two shapes loadray sends it.

- ``burst``: each timer tick (1 ms, rounded up as loadray's clock does) writes three
  requests at once on three idle connections: the fast path's shape at 3x the flow rate;
- ``chain``: each tick starts one chain of three requests on one connection, request k+1
  written from request k's ``data_received``: a flow of three static steps.

What the chain costs more than the burst at the same request rate is what a flow's three
round trips one after the other cost the kernel (a sleep and a wake-up of the generator per
step), whatever the client does in Python; ``flows.py --floor`` prints both beside
loadray's figures.

    python benchmarks/flow_floor.py [--rates 1000,2000] [--duration 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import resource
import sys
import time
from pathlib import Path

import httptools

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import fast_server  # noqa: E402

SHAPES = ("burst", "chain")
CONNECTIONS = 32


class _Conn(asyncio.Protocol):
    def __init__(self, client: _Client) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.complete = False
        self.step = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)
        if self.complete:
            self.complete = False
            self.client.answered(self)

    def on_message_complete(self) -> None:
        self.complete = True


class _Client:
    def __init__(self, chain: bool, host: str) -> None:
        self.chain = chain
        self.requests = [b"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: floor\r\n\r\n" % (path, host.encode())
                         for path in (b"/", b"/b", b"/c")]
        self.idle: list[_Conn] = []
        self.answers = 0

    def answered(self, conn: _Conn) -> None:
        self.answers += 1
        if self.chain and conn.step < 2:  # the next step, from this callback
            conn.step += 1
            conn.transport.write(self.requests[conn.step])  # type: ignore[union-attr]
        else:
            self.idle.append(conn)

    def tick(self) -> None:
        for step in range(1 if self.chain else 3):
            conn = self.idle.pop()
            conn.step = step
            conn.transport.write(self.requests[step])  # type: ignore[union-attr]


def _cpu() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_nvcsw


async def run_shape(url: str, shape: str, flows_per_s: int, duration: float) -> tuple[int, float, int]:
    """(requests answered, CPU seconds, voluntary context switches) of one run."""
    loop = asyncio.get_running_loop()
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    client = _Client(shape == "chain", f"{host}:{port}")
    for _ in range(CONNECTIONS):
        _, conn = await loop.create_connection(lambda: _Conn(client), host, int(port))
        client.idle.append(conn)
    gc.collect()  # (as flows.py does before each run)
    cpu0, cs0 = _cpu()
    start, k, every = time.monotonic_ns(), 0, 1e9 / flows_per_s
    while k * every < duration * 1e9:
        wait = start + int(k * every) - time.monotonic_ns()
        if wait > 0:
            await asyncio.sleep(math.ceil(wait / 1e6) / 1e3)
        elif len(client.idle) < 3:  # behind: let the answers in first
            await asyncio.sleep(0)
        else:
            client.tick()
            k += 1
    while client.answers < 3 * k:
        await asyncio.sleep(0.001)
    cpu1, cs1 = _cpu()
    for conn in client.idle:
        conn.transport.close()  # type: ignore[union-attr]
    return client.answers, cpu1 - cpu0, cs1 - cs0


def main() -> None:
    import uvloop

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="1000,2000", help="flows/s (the burst sends 3 requests per flow too)")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.sched_setaffinity(0, {0})
    print(f"{'shape':6} {'flows/s':>8} {'CPU-us/req':>11} {'cs/req':>7}  (medians of {args.repeat})")
    with fast_server(cpu=1) as (url, name):
        for rate in (int(r) for r in args.rates.split(",")):
            runs: dict[str, list[tuple[float, float]]] = {shape: [] for shape in SHAPES}
            for _ in range(args.repeat):
                for shape in SHAPES:
                    n, cpu, cs = uvloop.run(run_shape(url, shape, rate, args.duration))
                    runs[shape].append((cpu / n * 1e6, cs / n))
            medians = {shape: sorted(r)[len(r) // 2] for shape, r in runs.items()}
            for shape, (us, cs) in medians.items():
                print(f"{shape:6} {rate:8d} {us:11.1f} {cs:7.2f}")
            print(f"{'chain / burst':15} {medians['chain'][0] / medians['burst'][0]:.2f}x")
    print(f"server: {name} on core 1; client on core 0")


if __name__ == "__main__":
    main()
