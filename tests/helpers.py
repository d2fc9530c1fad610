"""Builders shared by the tests (import as ``from helpers import ...``: pytest puts
``tests/`` on the path)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from loadray.engine.clock import FakeClock
from loadray.schema import SCHEMA


def first_attempt_columns(n: int) -> list[pa.Array]:
    """The columns after ``bytes_in`` (schema 1.1 to 1.3) of ``n`` rows that are plain
    first attempts outside any flow, untraced, with no ``error_detail``."""
    later = SCHEMA.names[SCHEMA.get_field_index("attempt"):]
    return [pa.array(np.ones(n, dtype=np.int8))] + [pa.nulls(n, SCHEMA.field(name).type) for name in later[1:]]


# -- fake time for code with several tasks -------------------------------------------------


class Ticks:
    """A fake monotonic clock: each call moves 1 s, so parts complete every few writes."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        self.t += 1.0
        return self.t


class JumpClock(FakeClock):
    """A :class:`loadray.engine.clock.Clock` whose time is the event loop's own, and the
    loop's time jumps: run with :func:`run_in_fake_time`, nothing ever waits for real.

    The engine's :class:`~loadray.engine.clock.FakeClock` jumps on each sleep, which
    suits one sleeper; a whole :class:`~loadray.engine.worker.LoadWorker` (its pacing
    loop, flusher and lease keeper sleep at once) needs time that moves only when every
    task waits: this one moves when the loop would block, to its next timer."""

    async def sleep_until(self, mono_ns: int) -> None:
        import asyncio

        await asyncio.sleep(max(0, mono_ns - self.now_ns) / 1e9)

    async def wait(self, event) -> None:
        await event.wait()

    def call_at(self, mono_ns: int, fn) -> None:
        import asyncio

        asyncio.get_running_loop().call_at(mono_ns / 1e9, fn)


def run_in_fake_time(main, clock: JumpClock):
    """Run coroutine function ``main`` on a loop whose time is ``clock``'s: when every
    task waits for a timer, time jumps to it (asyncio asks its selector to block only
    then); a wait with no timer at all is a deadlock and raises."""
    import asyncio
    import selectors

    class Selector(selectors.DefaultSelector):
        def select(self, timeout=None):
            events = super().select(0)
            if events or timeout == 0:
                return events
            if timeout is None:
                raise RuntimeError("fake time: every task waits and no timer is due")
            clock.now_ns += max(1, round(timeout * 1e9))
            return events

    loop = asyncio.SelectorEventLoop(Selector())
    loop.time = lambda: clock.now_ns / 1e9  # type: ignore[method-assign]
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


# -- a real aiohttp server on 127.0.0.1 ------------------------------------------------------


async def start_app(app, ssl_context=None):
    """Serve ``app`` (an ``aiohttp.web.Application``) on 127.0.0.1, on a port the kernel
    picks; ``(runner, port)`` (``await runner.cleanup()`` stops it)."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


# -- a peer that went silent (a partition: nothing acknowledged, no RST, no FIN) -------------

SILENT_RCVBUF = 4096  # the silent peer's receive buffer: most of a large body stays on the client's side


class SilentPeer:
    """A plain socket in a thread (no event loop that might read ahead): accepts one
    connection and takes nothing from it until :meth:`wake`, then counts what arrives
    until EOF or a reset. With ``tls`` (a server context) it completes the handshake
    first, and then counts the encrypted bytes."""

    def __init__(self, greeting: bytes = b"", tls=None) -> None:
        import socket
        import threading

        self.greeting = greeting  # sent once connected, before it goes silent
        self.tls = tls
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SILENT_RCVBUF)  # inherited by the accepted socket
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.data = bytearray()  # what arrived after the wake
        self.ended: str | None = None
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import os
        import socket

        conn, _ = self.sock.accept()
        if self.tls is not None:
            tls = self.tls.wrap_socket(conn, server_side=True)
            tls.sendall(self.greeting)
            conn = socket.socket(fileno=os.dup(tls.fileno()))  # the TCP bytes past TLS: a reset shows as one
            tls.close()
        else:
            conn.sendall(self.greeting)
        self._wake.wait(10)
        conn.settimeout(1.0)  # a connection still open with nothing more to say ends the count
        try:
            while data := conn.recv(65536):
                self.received += len(data)
                self.data += data
            self.ended = "eof"
        except OSError as exc:  # ConnectionResetError, or TimeoutError: still open
            self.ended = type(exc).__name__
        finally:
            conn.close()
            self.sock.close()

    def wake(self) -> None:
        """The link heals: read what is (still) coming."""
        self._wake.set()
        self._thread.join(10)


def run_on_loop(coro, loop: str):
    """Run ``coro`` on a new ``asyncio`` or ``uvloop`` event loop (workers run on uvloop
    under Ray); skipped when uvloop is missing."""
    import asyncio

    import pytest

    factory = asyncio.new_event_loop if loop == "asyncio" else pytest.importorskip("uvloop").new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


# -- scenarios -------------------------------------------------------------------------------

ROOT_REQUEST = {"name": "root", "method": "GET", "path": "/"}


def scenario(url: str, phases: list | None = None, workers: int = 2, **extra):
    """A parsed open-model scenario against ``url``: ``phases`` (default 2 s at 20/s), one
    ``GET /`` named ``root`` unless ``extra`` has ``flows`` (or ``requests``), actors of a
    quarter CPU; any other top-level key in ``extra`` (``load`` replaces the load)."""
    from loadray.scenario import parse_scenario

    doc: dict = {
        "name": "t", "target": url, "workers": workers,
        "load": {"model": "open", "phases": phases or [{"duration": "2s", "rate": 20}]},
        "cluster": {"worker_cpus": 0.25},
    }
    if "flows" not in extra:
        doc["requests"] = [ROOT_REQUEST]
    return parse_scenario({**doc, **extra})


class FakeSeconds:
    """A ``() -> float`` clock in seconds (what the sink, the console and the target's
    fault model take): it says ``now``, which only the test moves."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def seconds_after_takeover(summary: dict, per_second: dict[int, int]) -> list[int]:
    """The target's whole seconds after the survivors took a lost worker's share over
    (its ``redistribute`` event), the run's last, partial second left out."""
    from datetime import datetime

    started = datetime.fromisoformat(summary["started_at"].replace("Z", "+00:00")).timestamp()
    at_s = next(e["at_s"] for e in summary["events"] if e["event"] == "redistribute")
    return [s for s in sorted(per_second) if started + at_s <= s < max(per_second)]


def rate_back_problems(per_second: dict[int, int], recovered: list[int], rate: float, short: float) -> list[str]:
    """What is wrong with the whole seconds ``recovered`` (after a takeover, see
    :func:`seconds_after_takeover`) for a run back at ``rate``/s; ``short``: the rate while
    the lost share was missing. A second may hold arrivals of the one before (the target
    counts a request when its loop reads it: a starved target or generator moves some
    on), so each is in rate +-5% or makes it up with the one before; and all of them with
    the second the takeover came in and the one before that (each between ``short`` and
    ``rate``: a stall there once moved 200 arrivals into the window) are within 2%."""
    problems = []
    lo, hi = 0.95 * rate, 1.05 * rate
    for s in recovered[1:]:
        if not (lo <= per_second[s] <= hi or 2 * lo <= per_second[s] + per_second[s - 1] <= 2 * hi):
            problems.append(f"second {s}: {per_second[s]} (the one before: {per_second[s - 1]})")
    n, total = len(recovered), sum(per_second.get(s, 0) for s in [recovered[0] - 2, recovered[0] - 1, *recovered])
    slack = 0.02 * rate * n
    if not rate * n + 2 * short - slack <= total <= rate * (n + 2) + slack:
        problems.append(f"{total} arrivals in the {n} seconds after the takeover and the two before")
    return problems


def webhook():
    """An alert webhook on 127.0.0.1 (a free port), serving in a daemon thread: the
    server (``shutdown()`` it) and the list of the JSON bodies it got."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    return hook, received
