"""CPU per request of the flow path's own Python work, without sockets: open-model
arrivals of a three-step static flow (``benchmarks/flows.py``'s) run by the worker's
:class:`~loadray.engine.flow_path.FlowPath` (static steps: its callback-driven
:mod:`~loadray.engine.static_flows` on the HTTP/1.1 core), each
step's request answered by feeding a canned response to the connection it went out
on; the rows flushed to Arrow every 65,536. Side by side, the fast path's figure
(``fast_record_micro.py``) from the same process, and their ratio.

    python benchmarks/flow_record_micro.py [--flows 100000] [--no-trace] [--profile]

The loopback syscalls that dominate the real figure are left out (``flows.py`` has
those). Prints ns of CPU per request, best of 5; ``--profile`` prints cProfile's top
functions of one run instead.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's loadray
from loadray.engine.clock import SystemClock  # noqa: E402
from loadray.engine.flow_path import FlowPath, step_names  # noqa: E402
from loadray.engine.lease import NEVER, Lease  # noqa: E402
from loadray.engine.modes import FlowOpen  # noqa: E402
from loadray.engine.row_buffer import FLOW_ROW, RowBuffer  # noqa: E402
from loadray.engine.worker import transport_settings  # noqa: E402
from loadray.scenario import parse_scenario  # noqa: E402

try:
    from fast_record_micro import _run as fast_run
    from fast_record_micro import _Sink
except ImportError:  # run as a module from the repo root
    from benchmarks.fast_record_micro import _run as fast_run
    from benchmarks.fast_record_micro import _Sink

FLUSH_EVERY = 1 << 16
# what the benchmarks' nginx answers (``return 200 "ok\\n"``)
NGINX = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 15:00:00 GMT\r\n"
         b"Content-Type: application/octet-stream\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n")
STEPS = [{"name": "a", "path": "/"}, {"name": "b", "path": "/b"}, {"name": "c", "path": "/c"}]


def _flow_path(trace: bool) -> tuple[FlowPath, FlowOpen]:
    scenario = parse_scenario({"target": "http://127.0.0.1:9", "workers": 1, "trace": trace,
                               "flows": [{"name": "f", "steps": STEPS}],
                               "load": {"phases": [{"duration": "1s", "rate": 1}]}})
    clock = SystemClock()
    settings = transport_settings(scenario, "0123456789abcdef" if trace else "")
    names, first = step_names(scenario)
    buffer = RowBuffer(0, names, 0, FLOW_ROW, first, settings.trace_prefix)
    lease = Lease(NEVER, until_ns=NEVER)
    flows = FlowPath(scenario, 0, 1, clock, buffer, settings, scenario.target.url or "", lease)
    return flows, FlowOpen(flows, scenario, 0, clock, lease)


async def _run(n: int, response: bytes, trace: bool, profile: cProfile.Profile | None = None) -> float:
    flows, mode = _flow_path(trace)
    await flows.open()  # (nothing listens on port 9: no connection opened in advance)
    # static steps: the callback-driven path's pool (else the flow client's)
    pool = flows.static.pools["127.0.0.1:9"] if flows.static is not None else flows.client._target("http://127.0.0.1:9/")[0]
    pool._start()
    conn = pool._conn_class(pool)
    pool._conns.add(conn)
    conn.connection_made(_Sink())  # idle: every step goes out on it
    buffer, loop, now = flows.runner.buffer, mode.loop, flows.clock.monotonic_ns
    submit, feed, c = flows.submit, conn.data_received, loop.counters
    if profile is not None:
        profile.enable()
    t0 = time.process_time()
    for i in range(n):
        c.sent += 1
        submit(0, (now(), now(), 0, 0, 0))
        feed(response)
        feed(response)
        feed(response)
        if i % FLUSH_EVERY == FLUSH_EVERY - 1:
            buffer.flush()
    buffer.flush()
    spent = time.process_time() - t0
    if profile is not None:
        profile.disable()
    assert c.done == n and c.errors == 0, (c.done, c.errors)
    await flows.close()
    return spent / (3 * n) * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flows", type=int, default=100_000)
    ap.add_argument("--no-trace", action="store_true")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    response, trace = NGINX, not args.no_trace
    if args.profile:
        profile = cProfile.Profile()
        asyncio.run(_run(args.flows, response, trace, profile))
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    flow = min(asyncio.run(_run(args.flows, response, trace)) for _ in range(5))
    fast = min(asyncio.run(fast_run(3 * args.flows, response)) for _ in range(5))
    print(f"flow path, 3 static steps, no sockets: {flow:.0f} ns CPU per request{'' if trace else ' (no trace)'}")
    print(f"fast path, no sockets:                 {fast:.0f} ns CPU per request (no trace)")
    print(f"flow / fast: {flow / fast:.2f}x; flow - fast: {flow - fast:.0f} ns per request")


if __name__ == "__main__":
    main()
