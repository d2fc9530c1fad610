"""The HTTP/2 connections of one origin (scheme, host, port) of a worker: at most
``connections`` of them, each carrying as many streams as the server allows.

- a request goes to a new connection while fewer than ``connections`` are open (so the
  configured few are all used), else to the least loaded one with room for a stream;
  when none has room it waits in the pool's queue (FIFO) for a stream to end;
- a connection that received GOAWAY takes no new stream; one that is lost is replaced
  by the next request that needs one;
- one sweeper (a timer every ``timeout / 10``, 10 ms to 1 s) fails what passed its
  deadline: ``connect_timeout`` while connecting, else ``timeout`` (its stream is reset
  with CANCEL);
- a stream that times out with nothing heard on its connection since it was sent has the
  connection probed (PING); unanswered for :data:`PING_WAIT_S`, the connection is
  abandoned (reset, nothing it holds delivered later) and its streams wait out their own
  deadlines as ``timeout`` (a link that went silent: the next request opens a new
  connection, as HTTP/1.1 would; the old one never delivers its backlog at once);
- over TLS the connection must negotiate ``h2`` by ALPN, else every request on it
  fails as ``protocol`` (whether the server picks another protocol or refuses the
  handshake with the ``no_application_protocol`` alert);
- ``may_send`` (the worker's lease): no request byte goes out once it says no, also not
  what was accepted before (a stream waiting in the queue or for its connection, the
  rest of a body waiting for window): it ends ``cut`` (a body cut short has its stream
  reset). A worker frozen (SIGSTOP, a paused VM) past its lease wakes up with window
  updates and finished streams to read: without this, it went on sending after it had
  fenced itself.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from loadray.engine.failures import error_detail, error_kind
from loadray.engine.h2.conn import H2Conn
from loadray.engine.sockets import connect_host
from loadray.kinds import CONNECT_TIMEOUT, CUT, PROTOCOL, TIMEOUT

if TYPE_CHECKING:
    from loadray.engine.h2.exchange import Exchange

__all__ = ["H2Pool"]

MIN_SWEEP_S = 0.01
MAX_SWEEP_S = 1.0
PING_WAIT_S = 1.0  # a connection that does not answer a PING this long is presumed dead
FENCED_DETAIL = "not sent: the worker's lease had lapsed"

Finish = Callable[["Exchange", "str | None", "str | None"], None]  # (exchange, error kind, detail)


class H2Pool:
    def __init__(
        self, host: str, port: int, tls: ssl.SSLContext | None, connections: int, connect_timeout_s: float,
        timeout_s: float, now: Callable[[], int], finish: Finish, may_send: Callable[[int], bool] | None = None,
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.max = max(1, connections)
        self.conns: list[H2Conn] = []
        self.queue: deque[Exchange] = deque()
        self.orphans: list[Exchange] = []  # streams of abandoned connections, until their deadline
        self.opened = 0  # connections opened so far (a test reads it)
        self._connect_ns = int(connect_timeout_s * 1e9)
        self._ping_wait_ns = int(PING_WAIT_S * 1e9)
        self.now = self._now = now
        self._finish = finish
        self._may_send = may_send  # (now) -> may a request byte go out? (the lease holds)
        self._interval = max(MIN_SWEEP_S, min(MAX_SWEEP_S, timeout_s / 10.0))
        self._sweeper: asyncio.TimerHandle | None = None
        self._connecting: dict[H2Conn, tuple[asyncio.Task, int]] = {}  # conn -> (task, connect deadline)
        self._closed = False
        self._connect_host = connect_host(host)

    def shorten(self, timeout_s: float) -> None:
        self._interval = max(MIN_SWEEP_S, min(self._interval, timeout_s / 10.0))

    def send(self, ex: Exchange) -> None:
        ex.pool = self
        if self._closed:
            self._finish(ex, CUT, None)
            return
        if self._sweeper is None:
            self._arm()
        conn = self._pick()
        if conn is None:
            self.queue.append(ex)
        else:
            conn.start(ex)

    def _pick(self) -> H2Conn | None:
        conns = self.conns
        if len(conns) < self.max:
            return self._open()
        best = None
        for conn in conns:
            if conn.room() > 0 and (best is None or conn.load < best.load):
                best = conn
        return best

    def _open(self) -> H2Conn:
        loop = asyncio.get_running_loop()
        conn = H2Conn(self)
        self.conns.append(conn)
        self.opened += 1
        tls = self.tls
        coro = loop.create_connection(lambda: conn, self._connect_host, self.port, ssl=tls,
                                      server_hostname=self.host if tls is not None else None)
        task = loop.create_task(coro)
        self._connecting[conn] = (task, self._now() + self._connect_ns)
        task.add_done_callback(lambda t: self._connected(conn, t))
        return conn

    def _connected(self, conn: H2Conn, task: asyncio.Task) -> None:
        self._connecting.pop(conn, None)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._drop(conn)
            kind = PROTOCOL if _refused_alpn(exc) else error_kind(exc, connecting=True)
            for ex in conn.pending:
                self._finish(ex, kind, error_detail(exc))
            conn.pending.clear()
            self.refill()

    def answered(self, ex: Exchange) -> None:
        self._finish(ex, None, None)
        if self.queue:
            self.refill()

    def failed(self, ex: Exchange, kind: str, detail: str | None) -> None:
        self._finish(ex, kind, detail)
        if self.queue:
            self.refill()

    def lost(self, conn: H2Conn) -> None:
        self._drop(conn)
        self.refill()

    def retired(self, conn: H2Conn) -> None:
        """``conn`` got GOAWAY: it takes no new stream; another may be opened."""
        self._drop(conn)
        self.refill()

    def may_send(self) -> bool:
        return self._may_send is None or self._may_send(self._now())

    def refused(self, ex: Exchange) -> None:
        """``ex`` may not go (on) out: ``may_send`` said no. It leaves its connection."""
        ex.conn = None
        self._finish(ex, CUT, FENCED_DETAIL)

    def refill(self) -> None:
        """Start queued requests where there is room now (none once ``may_send`` says no)."""
        queue = self.queue
        if queue and not self.may_send():
            while queue:
                self.refused(queue.popleft())
            return
        while queue and not self._closed:
            conn = self._pick()
            if conn is None:
                return
            conn.start(queue.popleft())

    def cancel(self, ex: Exchange) -> None:
        """Forget ``ex`` (its waiter went away): no outcome follows."""
        ex.pool = None
        if ex.conn is not None:
            ex.conn.cancel(ex)
            return
        for waiting in (self.queue, self.orphans):
            try:
                waiting.remove(ex)
            except ValueError:
                pass

    async def close(self) -> None:
        """Fail everything in flight or queued as ``cut``; close the connections."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task, _ in list(self._connecting.values()):
            task.cancel()
        for conn in list(self.conns):
            conn.fail_all(CUT, None)
            conn.close()
        self.conns.clear()
        while self.queue:
            self._finish(self.queue.popleft(), CUT, None)
        orphans, self.orphans = self.orphans, []
        for ex in orphans:
            self._finish(ex, CUT, None)

    def _drop(self, conn: H2Conn) -> None:
        if conn in self.conns:
            self.conns.remove(conn)

    def _arm(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(self._interval, self._sweep)

    def _sweep(self) -> None:
        """Fail what passed its deadline; re-arm while anything is in flight."""
        self._sweeper = None
        if self._closed:
            return
        now = self._now()
        for conn, (task, deadline) in list(self._connecting.items()):
            if deadline <= now:
                task.cancel()
                self._connecting.pop(conn, None)
                self._drop(conn)
                for ex in conn.pending:
                    self._finish(ex, CONNECT_TIMEOUT, None)
                conn.pending.clear()
        for conn in list(self.conns):
            expired = [e for e in (*conn.streams.values(), *conn.pending) if e.deadline <= now]
            for ex in expired:
                conn.cancel(ex)
                self._finish(ex, TIMEOUT, None)
            self._check_alive(conn, now, expired)
        for waiting in (self.queue, self.orphans):
            for ex in [ex for ex in waiting if ex.deadline <= now]:
                waiting.remove(ex)
                self._finish(ex, TIMEOUT, None)
        self.refill()
        if self.queue or self.orphans or self._connecting or any(c.load or c.ping_ns is not None for c in self.conns):
            self._arm()

    def _check_alive(self, conn: H2Conn, now: int, expired: list[Exchange]) -> None:
        """Probe a connection silent since a stream that just timed out was sent; abandon
        one whose probe went unanswered for :data:`PING_WAIT_S`."""
        if conn.ping_ns is not None:
            if conn.heard_ns >= conn.ping_ns:
                conn.ping_ns = None  # heard from since: alive
            elif now - conn.ping_ns >= self._ping_wait_ns:
                self._drop(conn)
                for ex in conn.abandon():
                    ex.conn = None
                    self.orphans.append(ex)
                return
        if expired and conn.heard_ns < min(ex.sent for ex in expired):
            conn.probe(now)


def _refused_alpn(exc: BaseException) -> bool:
    """A TLS server that speaks no h2 may end the handshake with the
    ``no_application_protocol`` alert (RFC 7301): a protocol failure, not a TLS one."""
    return isinstance(exc, ssl.SSLError) and "no application protocol" in str(exc).lower()
