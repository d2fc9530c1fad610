"""The keep-alive pool of one ``host:port``: connections, a FIFO queue, timeouts.

``submit(index, ctx, trace)`` sends a request of the pool's table (the open model's
fixed requests, a trace spliced in), ``send(data, ctx, timeout_s, flags)`` any bytes
(the flow client's): on an idle connection (LIFO: the warmest first), else on a new
one (up to ``max_connections``), else the request is queued; neither raises nor
blocks. Exactly one outcome follows per request, from the event loop:
``on_done(ctx, status, error, bytes_in, None, first, chunks)`` for a response (``error``
None below 400; ``first``: ``now()`` at its first body byte, 0 without a body;
``chunks``: the pieces its body was parsed in: its HTTP/1.1 chunks when chunked, one
more for a chunk split between two reads; else the reads) or
``on_fail(ctx, kind, exc)`` for a failure (a kind of :mod:`loadray.kinds`;
``exc`` the exception behind it, when there was one).

- one periodic sweeper fails the requests past their deadline: ``timeout`` (the
  request's), ``connect_timeout`` (the connect deadline came first); it runs every
  tenth of the shortest timeout seen, between 1 and 50 ms;
- a request whose reused keep-alive connection turns out to have been closed before
  any byte of its response came back is written again on another connection when it
  is idempotent (``RETRY``);
- a response without length that ends at EOF is complete when the peer closes;
- ``cancel(ctx)`` forgets a request (its connection is closed); ``close()`` fails
  whatever is queued or in flight as ``cut``.
"""

from __future__ import annotations

import asyncio
import time
from binascii import hexlify
from collections import deque
from collections.abc import Callable
from typing import Any

from loadray.engine.failures import error_kind, status_error
from loadray.engine.http1.conn import FREE, RETRY, Conn, eof_delimited
from loadray.engine.sockets import connect_host, discard_and_close
from loadray.engine.transport import DoneCallback, TransportSettings
from loadray.kinds import CONNECT_TIMEOUT, CUT, RESET, TIMEOUT

__all__ = ["FailCallback", "Pool", "Prepared"]

FailCallback = Callable[[Any, str, "BaseException | None"], None]  # (ctx, kind, exc)
# A request sent by index (``Pool.submit``): its bytes, the parts its trace joins
# (None: never traced) and its flags.
Prepared = tuple[bytes, "tuple[bytes, ...] | None", int]
MAX_SWEEP_INTERVAL_S = 0.05
MIN_SWEEP_INTERVAL_S = 0.001


class Pool:
    """See the module docstring."""

    def __init__(
        self, host: str, port: int, settings: TransportSettings, on_done: DoneCallback, on_fail: FailCallback,
        conn_class: type[Conn] = Conn, table: list[Prepared] | None = None, now: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.host, self.port = host, port
        self.now = now  # monotonic ns: when a response's first body byte came (on_done's ``first``)
        self._table = table or []
        self._timeout = float(settings.timeout_s)
        self.keepalive = settings.keepalive
        self._on_done = on_done
        self._fail = on_fail
        self._conn_class = conn_class
        self._connect_timeout = float(settings.connect_timeout_s)
        self._max = max(1, int(settings.max_connections))
        self._interval = MAX_SWEEP_INTERVAL_S
        self.shorten(min(float(settings.timeout_s), self._connect_timeout))
        self._idle: list[Conn] = []  # LIFO: the warmest connection first
        self._queue: deque[tuple[bytes, Any, float, int]] = deque()  # (data, ctx, deadline, flags)
        self._conns: set[Conn] = set()  # every live connection (connecting, busy, idle)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._time: Any = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        self._connect_host = connect_host(host)

    @property
    def connections(self) -> int:
        """Live connections (connecting, busy or idle)."""
        return len(self._conns)

    def shorten(self, timeout_s: float) -> None:
        """Sweep often enough for a request timing out after ``timeout_s``."""
        self._interval = max(MIN_SWEEP_INTERVAL_S, min(self._interval, timeout_s / 10.0))

    async def open(self, prewarm: int = 0) -> None:
        """Start; open up to ``prewarm`` idle connections (refusals are not fatal)."""
        self._start()
        n = min(int(prewarm), self._max) - len(self._conns)
        if n > 0:
            tasks = [self._open_conn(b"", FREE, 0.0, 0) for _ in range(n)]
            await asyncio.gather(*tasks, return_exceptions=True)

    def submit(self, index: int, ctx: Any, trace: int = 0) -> None:
        """Send request ``index`` of the table, carrying ``trace`` (nonzero: its 16 hex
        digits join the request's traced parts); times out after ``settings.timeout_s``.
        The open model's hot path: an idle connection writes at once."""
        data, parts, flags = self._table[index]
        if trace and parts is not None:
            data = hexlify(trace.to_bytes(8, "big")).join(parts)
        idle = self._idle
        if not idle:
            self.send(data, ctx, self._timeout, flags)
            return
        conn = idle.pop()
        conn.ctx = ctx
        conn.data = data
        conn.flags = flags
        conn.nbytes = 0
        conn.head = None
        conn.deadline = self._time() + self._timeout
        try:
            conn.transport.write(data)
        except Exception:  # the transport died under us: another connection
            self._resend(conn)

    def send(self, data: bytes, ctx: Any, timeout_s: float, flags: int) -> None:
        """Send ``data`` (a whole request); it times out after ``timeout_s``. An idle
        connection writes at once (the flow path's hot path: no call in between)."""
        idle = self._idle  # (empty once closed, and until started)
        if idle:
            conn = idle.pop()
            conn.ctx, conn.data, conn.flags = ctx, data, flags
            conn.nbytes, conn.head, conn.deadline = 0, None, self._time() + timeout_s
            try:
                conn.transport.write(data)
            except Exception:  # the transport died under us: another connection
                self._resend(conn)
            return
        if self._closed:
            asyncio.get_running_loop().call_soon(self._fail, ctx, CUT, None)
            return
        if self._loop is None:
            self._start()
        self._dispatch(data, ctx, self._time() + timeout_s, flags)

    def cancel(self, ctx: Any) -> None:
        """Forget the request of ``ctx`` (no outcome follows); its connection is closed."""
        for conn in self._conns:
            if conn.ctx is ctx:
                conn.ctx = FREE
                self._drop(conn, None)
                return
        queue = self._queue
        for i, entry in enumerate(queue):
            if entry[1] is ctx:
                del queue[i]
                return

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        conns = list(self._conns)
        self._conns.clear()
        self._idle.clear()
        cut: list[Any] = []
        pending: list[asyncio.Task] = []
        for conn in conns:
            conn.dead = True
            conn.deadline = 0.0
            if conn.ctx is not FREE:
                cut.append(conn.ctx)
                conn.ctx = FREE
            if conn.transport is not None:
                discard_and_close(conn.transport)  # nothing written may arrive after the close
            elif conn.task is not None and not conn.task.done():
                conn.task.cancel()
                pending.append(conn.task)
        while self._queue:
            cut.append(self._queue.popleft()[1])
        for ctx in cut:
            self._fail(ctx, CUT, None)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(0)  # let connection_lost callbacks run

    # -- internals -----------------------------------------------------------------------

    def _start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._time = self._loop.time
            self._sweeper = self._loop.call_later(self._interval, self._sweep)

    def _dispatch(self, data: bytes, ctx: Any, deadline: float, flags: int) -> None:
        """Idle connection, else a new one, else the queue."""
        if self._idle:
            self._start_on(self._idle.pop(), data, ctx, deadline, flags)
        elif len(self._conns) < self._max:
            self._open_conn(data, ctx, deadline, flags)
        else:
            self._queue.append((data, ctx, deadline, flags))

    def _start_on(self, conn: Conn, data: bytes, ctx: Any, deadline: float, flags: int) -> None:
        conn.ctx, conn.data, conn.flags = ctx, data, flags
        conn.nbytes, conn.head, conn.deadline = 0, None, deadline
        try:
            conn.transport.write(data)
        except Exception:
            self._resend(conn)

    def _resend(self, conn: Conn) -> None:
        """``conn`` could not write its request: drop it, send the request again."""
        ctx, data, deadline, flags = conn.ctx, conn.data, conn.deadline, conn.flags
        conn.ctx = FREE
        self._drop(conn, None)
        self._dispatch(data, ctx, deadline, flags)

    def _start_queued(self, conn: Conn) -> None:
        self._start_on(conn, *self._queue.popleft())

    def _open_conn(self, data: bytes, ctx: Any, deadline: float, flags: int) -> asyncio.Task:
        loop = self._loop
        assert loop is not None
        conn = self._conn_class(self)
        self._conns.add(conn)
        conn.ctx, conn.data, conn.flags = ctx, data, flags
        conn.cdeadline = self._time() + self._connect_timeout
        # while connecting, the earlier of the two deadlines applies
        conn.deadline = conn.cdeadline if ctx is FREE else min(conn.cdeadline, deadline)
        conn.rdeadline = deadline
        conn.task = task = loop.create_task(loop.create_connection(conn._protocol, self._connect_host, self.port))
        task.add_done_callback(conn._connect_done)
        return task

    def _connected(self, conn: Conn) -> None:
        if conn.ctx is not FREE:
            conn.deadline = conn.rdeadline
            conn.transport.write(conn.data)
            return
        conn.deadline = 0.0
        if self._queue:
            self._start_queued(conn)
        else:
            self._idle.append(conn)

    def _drop(self, conn: Conn, kind: str | None, exc: BaseException | None = None, graceful: bool = False) -> None:
        """Discard ``conn`` for good; fail its request (if any) as ``kind``."""
        if conn.dead:
            return
        conn.dead = True
        conn.deadline = 0.0
        self._conns.discard(conn)
        ctx = conn.ctx
        conn.ctx = FREE
        if ctx is FREE and conn in self._idle:
            self._idle.remove(conn)
        transport = conn.transport
        if transport is not None:
            if graceful:
                transport.close()
            else:
                discard_and_close(transport)
        elif conn.task is not None and not conn.task.done():
            conn.task.cancel()
        self._refill()
        if ctx is not FREE and kind is not None:
            self._fail(ctx, kind, exc)

    def _refill(self) -> None:
        """Give queued requests to idle connections or new ones, up to the cap."""
        queue = self._queue
        while queue and not self._closed:
            if self._idle:
                self._start_queued(self._idle.pop())
            elif len(self._conns) < self._max:
                self._open_conn(*queue.popleft())
            else:
                break

    def _lost(self, conn: Conn, exc: Exception | None) -> None:
        """The peer closed (``exc`` None) or reset the connection."""
        ctx = conn.ctx
        if ctx is FREE:
            self._drop(conn, None)
            return
        if exc is None:
            status = conn.parser.get_status_code() if conn.parser is not None else 0
            if status >= 200 and eof_delimited(conn.head):
                self._answer(conn, status)
                return
        if conn.reused and conn.head is None and conn.flags & RETRY:
            # a stale keep-alive connection: the server closed it as we wrote
            data, deadline, flags = conn.data, conn.deadline, conn.flags
            conn.ctx = FREE
            self._drop(conn, None)
            self._dispatch(data, ctx, deadline, flags)
            return
        self._drop(conn, RESET if exc is None else error_kind(exc, conn.connecting), exc)

    def _parse_error(self, conn: Conn, exc: Exception) -> None:
        if conn.status and conn.ctx is not FREE:  # complete response, then junk: keep the response
            self._answer(conn, conn.status)
            return
        self._drop(conn, error_kind(exc), exc)

    def _answer(self, conn: Conn, status: int) -> None:
        """``conn``'s response is complete, and so is the connection."""
        ctx, nbytes = conn.ctx, conn.nbytes
        conn.ctx = FREE
        self._drop(conn, None, graceful=True)
        self._on_done(ctx, status, status_error(status), nbytes, None, conn.first, conn.pieces)

    def _sweep(self) -> None:
        now = self._time()
        for conn in [c for c in self._conns if 0.0 < c.deadline <= now]:
            self._drop(conn, CONNECT_TIMEOUT if conn.connecting and conn.cdeadline <= now else TIMEOUT)
        queue = self._queue  # in place: the connections hold it
        if queue and any(entry[2] <= now for entry in queue):
            late = [entry[1] for entry in queue if entry[2] <= now]
            keep = [entry for entry in queue if entry[2] > now]
            queue.clear()
            queue.extend(keep)
            for ctx in late:
                self._fail(ctx, TIMEOUT, None)
        if not self._closed:
            self._sweeper = self._loop.call_later(self._interval, self._sweep)  # type: ignore[union-attr]
