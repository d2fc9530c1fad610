"""The fast transport: HTTP/1.1 keep-alive over an asyncio Protocol, parsed by httptools.

This is the hot path of the product (DESIGN §4: ~5 CPU-µs per request on uvloop), so
it is written for the interpreter, not for beauty:

- request bytes are built once per :class:`PreparedRequest` at construction; a traced
  request is one bytes join of parts built alongside, around the 16 hex digits of its
  trace (the ``traceparent`` slot sits between the header lines and the blank line);
- ``submit`` pops an idle connection (LIFO) and writes; no Task, Future or timer
  handle is created per request; outcomes are reported from protocol callbacks;
- one periodic sweeper per transport enforces the connect and request timeouts;
- the response body is counted and discarded.

One transport talks to one ``host:port`` over plain ``http`` and never follows a
redirect; :mod:`.transports` sends anything else (https, HEAD, several hosts,
``redirects > 0``) to the aiohttp transport.

Connection states (``_Conn``): *connecting* (a task runs ``create_connection``),
*busy* (``ctx`` is set, a request is on the wire), *idle* (in ``_idle``), *dead*
(discarded: never reused, its later callbacks are ignored).
"""

from __future__ import annotations

import asyncio
import ipaddress
from binascii import hexlify
from collections import deque
from typing import Any
from urllib.parse import quote, urlsplit

import httptools

from loadray.engine.sockets import discard_and_close
from loadray.engine.errors import (
    CONNECT_TIMEOUT,
    CUT,
    RESET,
    TIMEOUT,
    error_kind,
    status_error,
)
from loadray.engine.transport import (
    ACCEPT_ENCODING,
    DoneCallback,
    PreparedRequest,
    Transport,
    TransportSettings,
)

__all__ = [
    "FastTransport",
    "USER_AGENT",
    "build_request_bytes",
    "build_traced_parts",
    "endpoint",
    "traced_bytes",
    "unsupported_reason",
]

USER_AGENT = "loadray"
MAX_SWEEP_INTERVAL_S = 0.05
MIN_SWEEP_INTERVAL_S = 0.001
# httptools' response parser cannot be told that a response answers a HEAD request
# (it would wait for a body); CONNECT switches protocols.
UNSUPPORTED_METHODS = frozenset({"HEAD", "CONNECT"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Retried once on a fresh connection when a reused keep-alive connection turns out to
# have been closed by the server before any byte of the response came back.
IDEMPOTENT = frozenset({"GET", "OPTIONS", "PUT", "DELETE", "TRACE"})
PATH_SAFE = "/:@!$&'()*+,;=?%~-._"
# ``_Conn.ctx`` of a connection with no request in flight (callers' ctx may be None).
FREE: Any = object()


def endpoint(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an absolute URL (port defaulted from the scheme)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, host, port


def unsupported_reason(
    requests: list[PreparedRequest], settings: TransportSettings | None = None
) -> str | None:
    """Why the fast transport cannot send these requests with these settings, or None."""
    if not requests:
        return "no requests"
    if settings is not None and settings.redirects:
        return f"it cannot follow redirects (redirects: {settings.redirects})"
    first = endpoint(requests[0].url)
    for req in requests:
        scheme, host, port = endpoint(req.url)
        if scheme != "http":
            return f"request {req.name!r} uses {scheme or 'no'} scheme (fast sends plain http only)"
        if not host:
            return f"request {req.name!r} has no host"
        if (scheme, host, port) != first:
            return "requests go to several hosts/ports (fast talks to one)"
        if req.method.upper() in UNSUPPORTED_METHODS:
            return f"request {req.name!r} uses method {req.method.upper()}"
        for name, _ in req.headers:
            if name.lower() in ("expect", "upgrade", "transfer-encoding"):
                return f"request {req.name!r} sets header {name}"
    return None


def _request_parts(
    req: PreparedRequest, keepalive: bool, compression: bool = False
) -> tuple[bytes, bytes, frozenset[str]]:
    """``(head, tail, header names)``: the request line and header lines (each ending
    in CRLF), then the blank line and body; a header slot lies between the two."""
    method = req.method.upper()
    if not method or not method.isascii() or not method.isalpha():
        raise ValueError(f"request {req.name!r}: bad method {req.method!r}")
    parts = urlsplit(req.url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if not target.isascii():
        target = quote(target, safe=PATH_SAFE)
    names = frozenset(name.lower() for name, _ in req.headers)
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        lines.append("Host: " + parts.netloc.rpartition("@")[2])
    if "user-agent" not in names:
        lines.append("User-Agent: " + USER_AGENT)
    if compression and "accept-encoding" not in names:
        lines.append("Accept-Encoding: " + ACCEPT_ENCODING)
    for name, value in req.headers:
        if any(c in name or c in value for c in "\r\n\0") or ":" in name or not name:
            raise ValueError(f"request {req.name!r}: bad header {name!r}")
        lines.append(f"{name}: {value}")
    body = req.body
    if "content-length" not in names and (body is not None or method in BODY_METHODS):
        lines.append(f"Content-Length: {len(body or b'')}")
    if not keepalive and "connection" not in names:
        lines.append("Connection: close")
    head = "".join(line + "\r\n" for line in lines).encode("latin-1")
    return head, b"\r\n" + body if body else b"\r\n", names


def build_request_bytes(req: PreparedRequest, keepalive: bool, compression: bool = False) -> bytes:
    """The exact bytes written for ``req``: request line, headers, body."""
    head, tail, _ = _request_parts(req, keepalive, compression)
    return head + tail


def build_traced_parts(req: PreparedRequest, settings: TransportSettings) -> tuple[bytes, ...] | None:
    """``traced_bytes(parts, trace)`` is ``req`` carrying a traceparent; None when it
    never carries one (no ``trace_prefix``, or the request sets its own)."""
    head, tail, names = _request_parts(req, settings.keepalive, settings.compression)
    if not settings.trace_prefix or "traceparent" in names:
        return None
    # joined with the 16 hex digits of the trace: ...-{prefix}{hex}-{hex}-01
    return head + b"traceparent: 00-" + settings.trace_prefix.encode(), b"-", b"-01\r\n" + tail


def traced_bytes(parts: tuple[bytes, ...], trace: int) -> bytes:
    """The bytes of a request from its :func:`build_traced_parts`, carrying ``trace``."""
    return hexlify(trace.to_bytes(8, "big")).join(parts)


def _eof_delimited(head: bytes | None) -> bool:
    """Whether a response whose headers are in ``head`` ends at EOF (no length, not chunked).

    httptools cannot be told about EOF, so such a response never "completes"; when
    the peer closes we decide from its header block. Only the rare path runs this.
    """
    if head is None:
        return False
    end = head.find(b"\r\n\r\n")
    if end < 0:  # header block not all in the first chunk: be conservative
        return False
    block = head[:end].lower()
    return b"\ncontent-length:" not in block and b"\ntransfer-encoding:" not in block


class _Conn(asyncio.Protocol):
    """One keep-alive connection. Its callbacks are the hot path; keep them lean."""

    __slots__ = (
        "pool",
        "idle",
        "queue",
        "on_done",
        "keepalive",
        "transport",
        "parser",
        "task",
        "ctx",
        "index",
        "trace",
        "deadline",
        "rdeadline",
        "nbytes",
        "status",
        "keep",
        "head",
        "connecting",
        "reused",
        "dead",
    )

    def __init__(self, pool: FastTransport) -> None:
        self.pool = pool
        # the pool's for the hot path, bound once (the pool never replaces them)
        self.idle = pool._idle
        self.queue = pool._queue
        self.on_done = pool._on_done
        self.keepalive = pool._keepalive
        self.transport: Any = None
        self.parser: Any = None
        self.task: asyncio.Task | None = None
        self.ctx: Any = FREE  # the caller's ctx while a request is in flight
        self.index = -1
        self.trace = 0
        self.deadline = 0.0  # loop time; 0.0 = nothing to time out
        self.rdeadline = 0.0  # the request's own deadline, kept while connecting
        self.nbytes = 0
        self.status = 0  # set by on_message_complete (final response only)
        self.keep = False  # the completed response allows keep-alive
        self.head: bytes | None = None  # first chunk of the current response
        self.connecting = True
        self.reused = False
        self.dead = False

    def _protocol(self) -> _Conn:
        return self

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.connecting = False
        if self.dead:  # closed or timed out while connecting
            transport.abort()
            return
        self.parser = httptools.HttpResponseParser(self)
        self.pool._connected(self)

    def data_received(self, data: bytes) -> None:
        if self.head is None:
            self.head = data
        try:
            self.parser.feed_data(data)
        except Exception as exc:
            self.pool._parse_error(self, exc)
            return
        status = self.status
        if status:
            ctx = self.ctx
            nbytes = self.nbytes
            self.status = 0
            self.ctx = FREE
            self.deadline = 0.0
            self.reused = True
            if self.keep and ctx is not FREE:
                if self.queue:
                    self.pool._start_queued(self)
                else:
                    self.idle.append(self)
            else:
                self.pool._drop(self, None, True)
                if ctx is FREE:  # an answer nobody asked for
                    return
            self.on_done(ctx, status, None if status < 400 else status_error(status), nbytes)

    def eof_received(self) -> None:
        if not self.dead:
            self.pool._lost(self, None)
        # returning None lets the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.dead:
            self.pool._lost(self, exc)

    # -- httptools callbacks -----------------------------------------------------

    def on_body(self, body: bytes) -> None:
        self.nbytes += len(body)

    def on_message_complete(self) -> None:
        # Read both here: llhttp resets its flags once this callback returns.
        parser = self.parser
        status = parser.get_status_code()
        if status >= 200:  # 1xx interim responses are followed by the real one
            self.status = status
            self.keep = self.keepalive and parser.should_keep_alive()

    # -- connect task ------------------------------------------------------------

    def _connect_done(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return  # we cancelled it: already accounted for
        exc = task.exception()
        if exc is not None and not self.dead:
            self.pool._drop(self, error_kind(exc, True))


class FastTransport(Transport):
    """HTTP/1.1 keep-alive pool to one host:port over plain http; see the module docstring."""

    def __init__(
        self,
        requests: list[PreparedRequest],
        settings: TransportSettings,
        on_done: DoneCallback,
    ) -> None:
        super().__init__(requests, settings, on_done)
        reason = unsupported_reason(requests, settings)
        if reason is not None:
            raise ValueError(f"fast transport: {reason}")
        _, self._host, self._port = endpoint(requests[0].url)
        self._payloads = [build_request_bytes(r, settings.keepalive, settings.compression) for r in requests]
        self._traced = [build_traced_parts(r, settings) for r in requests]
        self._retryable = [r.method.upper() in IDEMPOTENT for r in requests]
        self._on_done = on_done
        self._keepalive = settings.keepalive
        self._timeout = float(settings.timeout_s)
        self._connect_timeout = float(settings.connect_timeout_s)
        self._max = max(1, int(settings.max_connections))
        self._interval = max(
            MIN_SWEEP_INTERVAL_S,
            min(min(self._timeout, self._connect_timeout) / 10.0, MAX_SWEEP_INTERVAL_S),
        )
        self._idle: list[_Conn] = []  # LIFO: the warmest connection first
        self._queue: deque[tuple[int, Any, float]] = deque()  # (index, ctx, deadline)
        self._conns: set[_Conn] = set()  # every live connection (connecting, busy, idle)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._time: Any = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        self._connect_host = self._host
        try:  # an IP literal skips the resolver on every connect
            self._connect_host = str(ipaddress.ip_address(self._host))
        except ValueError:
            pass

    # -- public API ----------------------------------------------------------------

    async def open(self, prewarm: int = 0) -> None:
        self._start()
        n = min(int(prewarm), self._max) - len(self._conns)
        if n > 0:
            tasks = [self._open_conn(-1, FREE, 0.0, 0) for _ in range(n)]
            await asyncio.gather(*tasks, return_exceptions=True)

    def submit(self, index: int, ctx: Any, trace: int = 0) -> None:
        idle = self._idle
        if idle:
            conn = idle.pop()
            conn.ctx = ctx
            conn.index = index
            conn.trace = trace
            conn.nbytes = 0
            conn.head = None
            conn.deadline = deadline = self._time() + self._timeout
            if trace and (parts := self._traced[index]) is not None:
                data = hexlify(trace.to_bytes(8, "big")).join(parts)
            else:
                data = self._payloads[index]
            try:
                conn.transport.write(data)
            except Exception:  # the transport died under us: reconnect
                conn.ctx = FREE
                self._drop(conn, None)
                self._dispatch(index, ctx, deadline, trace)
            return
        self._submit_slow(index, ctx, trace)

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
        on_done = self._on_done
        for ctx in cut:
            on_done(ctx, 0, CUT, 0)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(0)  # let connection_lost callbacks run

    @property
    def connections(self) -> int:
        """Live connections (connecting, busy or idle)."""
        return len(self._conns)

    # -- internals -----------------------------------------------------------------

    def _start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._time = self._loop.time
            self._sweeper = self._loop.call_later(self._interval, self._sweep)

    def _payload(self, index: int, trace: int) -> bytes:
        """The bytes of request ``index``, carrying trace ``trace`` if it is nonzero."""
        parts = self._traced[index] if trace else None
        return self._payloads[index] if parts is None else traced_bytes(parts, trace)

    def _submit_slow(self, index: int, ctx: Any, trace: int) -> None:
        if self._closed:
            asyncio.get_running_loop().call_soon(self._on_done, ctx, 0, CUT, 0)
            return
        self._start()
        self._dispatch(index, ctx, self._time() + self._timeout, trace)

    def _dispatch(self, index: int, ctx: Any, deadline: float, trace: int) -> None:
        """Idle connection, else a new one, else the queue."""
        if self._idle:
            self._start_on(self._idle.pop(), index, ctx, deadline, trace)
        elif len(self._conns) < self._max:
            self._open_conn(index, ctx, deadline, trace)
        else:
            self._queue.append((index, ctx, deadline, trace))

    def _start_on(self, conn: _Conn, index: int, ctx: Any, deadline: float, trace: int) -> None:
        conn.ctx = ctx
        conn.index = index
        conn.trace = trace
        conn.nbytes = 0
        conn.head = None
        conn.deadline = deadline
        try:
            conn.transport.write(self._payload(index, trace))
        except Exception:
            conn.ctx = FREE
            self._drop(conn, None)
            self._dispatch(index, ctx, deadline, trace)

    def _start_queued(self, conn: _Conn) -> None:
        self._start_on(conn, *self._queue.popleft())

    def _open_conn(self, index: int, ctx: Any, deadline: float, trace: int = 0) -> asyncio.Task:
        loop = self._loop
        assert loop is not None
        conn = _Conn(self)
        self._conns.add(conn)
        conn.ctx = ctx
        conn.index = index
        conn.trace = trace
        connect_deadline = self._time() + self._connect_timeout
        # while connecting, the earlier of the two deadlines applies
        conn.deadline = connect_deadline if ctx is FREE else min(connect_deadline, deadline)
        conn.rdeadline = deadline
        task = loop.create_task(
            loop.create_connection(conn._protocol, self._connect_host, self._port)
        )
        conn.task = task
        task.add_done_callback(conn._connect_done)
        return task

    def _connected(self, conn: _Conn) -> None:
        if conn.ctx is not FREE:
            conn.deadline = conn.rdeadline
            conn.transport.write(self._payload(conn.index, conn.trace))
            return
        conn.deadline = 0.0
        if self._queue:
            self._start_queued(conn)
        else:
            self._idle.append(conn)

    def _drop(self, conn: _Conn, kind: str | None, graceful: bool = False) -> None:
        """Discard ``conn`` for good; report its request (if any) as ``kind``."""
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
                transport.abort()
        elif conn.task is not None and not conn.task.done():
            conn.task.cancel()
        self._refill()
        if ctx is not FREE and kind is not None:
            self._on_done(ctx, 0, kind, 0)

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

    def _lost(self, conn: _Conn, exc: Exception | None) -> None:
        """The peer closed (``exc`` None) or reset the connection."""
        ctx = conn.ctx
        if ctx is FREE:
            self._drop(conn, None)
            return
        if exc is None:
            status = conn.parser.get_status_code() if conn.parser is not None else 0
            if status >= 200 and _eof_delimited(conn.head):
                nbytes = conn.nbytes
                conn.ctx = FREE
                self._drop(conn, None, True)
                self._on_done(ctx, status, status_error(status), nbytes)
                return
        if conn.reused and conn.head is None and self._retryable[conn.index]:
            # a stale keep-alive connection: the server closed it as we wrote
            index, deadline, trace = conn.index, conn.deadline, conn.trace
            conn.ctx = FREE
            self._drop(conn, None)
            self._dispatch(index, ctx, deadline, trace)
            return
        self._drop(conn, RESET if exc is None else error_kind(exc, conn.connecting))

    def _parse_error(self, conn: _Conn, exc: Exception) -> None:
        status = conn.status
        if status and conn.ctx is not FREE:  # complete response, then junk: keep the response
            ctx = conn.ctx
            conn.ctx = FREE
            self._drop(conn, None)
            self._on_done(ctx, status, status_error(status), conn.nbytes)
            return
        self._drop(conn, error_kind(exc))

    def _sweep(self) -> None:
        now = self._time()
        expired = [c for c in self._conns if 0.0 < c.deadline <= now]
        for conn in expired:
            self._drop(conn, CONNECT_TIMEOUT if conn.connecting else TIMEOUT)
        queue = self._queue
        while queue and queue[0][2] <= now:
            ctx = queue.popleft()[1]
            self._on_done(ctx, 0, TIMEOUT, 0)
        if not self._closed:
            self._sweeper = self._loop.call_later(self._interval, self._sweep)  # type: ignore[union-attr]
