"""The HTTP client of flows on an asyncio Protocol + httptools: the lean twin of
:class:`~loadray.engine.flow_client.FlowClient` (same interface, same :class:`Reply`)
for plain ``http`` targets.

- one HTTP/1.1 keep-alive pool per ``(host, port)``: at most ``max_connections``
  connections, idle ones reused LIFO; a request that finds the pool full waits (FIFO);
- per request one future (the protocol resolves it), no Task, no timer: one periodic
  sweeper per client fails the requests past their deadline (lateness <= 10% of the
  shortest timeout seen, at most 50 ms);
- a session is a plain cookie jar (name -> value), sent back as one ``Cookie`` header;
- redirects are followed here; bodies are counted, and kept (at most ``keep`` bytes:
  the step's ``max_body``; the rest is counted and dropped as it arrives) and decoded
  (at most ``keep`` bytes out: no decompression bomb) only when asked.

Connection states (``_Conn``): *connecting*, *busy* (``waiter`` set), *idle* (in the
pool's ``idle``), *dead* (discarded once, by :meth:`_Pool.discard`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import quote, urljoin, urlsplit

import httptools

from loadray.engine.sockets import discard_and_close
from loadray.engine.errors import CONNECT_ERROR, CONNECT_TIMEOUT, RESET, TIMEOUT, error_detail, error_kind, status_error
from loadray.engine.fast import BODY_METHODS, IDEMPOTENT, PATH_SAFE, USER_AGENT
from loadray.engine.fast_response import response_of
from loadray.engine.flow_client import Reply
from loadray.engine.transport import ACCEPT_ENCODING, TransportSettings
from loadray.flow.render import Rendered

__all__ = ["FastFlowClient", "FlowSession"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_SWEEP_INTERVAL_S = 0.05
MIN_SWEEP_INTERVAL_S = 0.001
# Lengths of the header names read when the body is not kept: Location, Set-Cookie,
# Content-Length, Transfer-Encoding (the others are not even stored).
_WANTED = frozenset({8, 10, 14, 17})
_SCHEME = "http://"
_BODY_HEADERS = frozenset({"content-length", "content-type"})  # dropped when a redirect turns into GET


class FlowSession:
    """One virtual user's cookie jar; usable as ``async with`` or closed by hand."""

    __slots__ = ("cookies",)

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> FlowSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


class _Failed(Exception):
    """A failure whose error kind is already known (connect errors, queue timeouts)."""

    def __init__(self, kind: str, detail: str | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


def _expire(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())


class _Conn(asyncio.Protocol):
    """One connection; ``waiter`` resolves to the status when a response is complete."""

    __slots__ = (
        "pool", "transport", "parser", "waiter", "deadline", "headers", "body", "room", "nbytes", "status",
        "keep", "got", "head_only", "reused", "dead",
    )

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: Any = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.deadline = 0.0  # loop time the waiter fails at
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] | None = None  # chunks, only when the response is kept
        self.room = 0  # bytes of the body still to keep
        self.nbytes = 0
        self.status = 0  # set once the final response's headers are in
        self.keep = False
        self.got = False  # a byte of the current response arrived
        self.head_only = False  # a HEAD request: the response has no body
        self.reused = False
        self.dead = False

    def _protocol(self) -> _Conn:
        return self

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.got = True
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # not HTTP/1.1, or an upgrade
            self._end(exc)

    def eof_received(self) -> None:
        self._end(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(exc)

    def _end(self, exc: Exception | None) -> None:
        """The peer closed (``exc`` None), reset, or sent junk: the connection is over."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if exc is None and self.status and self._until_eof():
                self.keep = False
                waiter.set_result(self.status)
            else:
                waiter.set_exception(exc or ConnectionResetError("closed by the peer"))
        self.pool.discard(self)

    def _until_eof(self) -> bool:
        """The response has neither a length nor chunks: its body ends at EOF."""
        names = {name.lower() for name, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    # -- httptools callbacks ------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.body is not None or len(name) in _WANTED:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status >= 200:
            self.status = status
            if self.head_only:  # httptools would wait for the body a HEAD never gets
                self.keep = False
                self._resolve(status)

    def on_body(self, body: bytes) -> None:
        self.nbytes += len(body)
        if self.body is not None and self.room > 0:
            if len(body) > self.room:
                body = body[: self.room]
            self.body.append(body)
            self.room -= len(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # an interim response: the real one follows
            self.headers = []
            return
        self.keep = self.parser.should_keep_alive() and not self.head_only
        self._resolve(status)

    def _resolve(self, status: int) -> None:
        waiter = self.waiter
        if waiter is None:  # an answer nobody asked for
            self.pool.discard(self)
        elif not waiter.done():
            waiter.set_result(status)


class _Pool:
    """Keep-alive connections to one ``host:port``."""

    __slots__ = (
        "loop", "host", "port", "host_header", "cap", "connect_timeout", "keepalive", "idle", "waiters", "count",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, netloc: str, settings: TransportSettings) -> None:
        parts = urlsplit(_SCHEME + netloc)
        self.loop = loop
        self.host = parts.hostname or ""
        self.port = parts.port or 80
        self.host_header = netloc.rpartition("@")[2]
        self.cap = max(1, int(settings.max_connections))
        self.connect_timeout = float(settings.connect_timeout_s)
        self.keepalive = settings.keepalive
        self.idle: list[_Conn] = []
        self.waiters: deque[asyncio.Future] = deque()
        self.count = 0  # live connections: connecting, busy or idle

    async def acquire(self, deadline: float) -> _Conn:
        """An idle connection, else a new one, else the next one freed (until ``deadline``)."""
        while True:
            if self.idle:
                return self.idle.pop()
            if self.count < self.cap:
                return await self._connect(deadline)
            fut = self.loop.create_future()
            self.waiters.append(fut)
            timer = self.loop.call_at(deadline, _expire, fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._wake()  # woken, then cancelled: pass the turn on
                raise
            except TimeoutError:
                raise _Failed(TIMEOUT) from None
            finally:
                timer.cancel()

    async def _connect(self, deadline: float) -> _Conn:
        self.count += 1
        conn = _Conn(self)
        budget = deadline - self.loop.time()
        limit = min(self.connect_timeout, budget)
        try:
            await asyncio.wait_for(self.loop.create_connection(conn._protocol, self.host, self.port), limit)
        except BaseException as exc:
            self.discard(conn)
            if isinstance(exc, asyncio.CancelledError):
                raise
            if isinstance(exc, TimeoutError):
                raise _Failed(CONNECT_TIMEOUT if self.connect_timeout <= budget else TIMEOUT) from None
            raise _Failed(error_kind(exc, True), error_detail(exc)) from None
        if conn.dead:  # closed by the peer before we got it
            raise _Failed(RESET)
        return conn

    def release(self, conn: _Conn) -> None:
        """``conn`` answered in full: reuse it if both sides allow, else close it."""
        conn.waiter = None
        if conn.keep and self.keepalive and not conn.dead:
            conn.reused = True
            self.idle.append(conn)
            if self.waiters:
                self._wake()
        else:
            self.discard(conn, graceful=True)

    def discard(self, conn: _Conn, graceful: bool = False) -> None:
        if conn.dead:
            return
        conn.dead = True
        self.count -= 1
        if conn.waiter is None and conn in self.idle:
            self.idle.remove(conn)
        if conn.transport is not None:
            if graceful:
                conn.transport.close()
            else:
                discard_and_close(conn.transport)
        self._wake()

    def _wake(self) -> None:
        waiters = self.waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def close(self) -> None:
        for conn in list(self.idle):
            self.discard(conn)
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(_Failed(RESET))


class FastFlowClient:
    """See the module docstring; the interface is :class:`~loadray.engine.flow_client.FlowClient`'s."""

    def __init__(self, settings: TransportSettings, now_ns: Callable[[], int]) -> None:
        self.settings = settings
        self._now = now_ns
        self._timeout = float(settings.timeout_s)
        self._redirects = settings.redirects
        self._compression = settings.compression
        self._keepalive = settings.keepalive
        self._pools: dict[str, _Pool] = {}  # netloc -> pool
        self._busy: set[_Conn] = set()  # the connections with a request in flight
        self._loop: asyncio.AbstractEventLoop | None = None
        self._interval = MAX_SWEEP_INTERVAL_S
        self._sweeper: asyncio.TimerHandle | None = None
        self._shorten(min(self._timeout, float(settings.connect_timeout_s)))

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._sweeper = self._loop.call_later(self._interval, self._sweep)

    def session(self) -> FlowSession:
        """A new session: a fresh cookie jar."""
        return FlowSession()

    async def send(self, session: FlowSession, out: Rendered, keep: int | None) -> Reply:
        """Send ``out``; keep None: no response object; else one with at most ``keep``
        bytes of the (decoded) body."""
        loop = self._loop
        assert loop is not None, "open() first"
        if out.timeout_s is None:
            deadline = loop.time() + self._timeout
        else:
            deadline = loop.time() + out.timeout_s
            if out.timeout_s < self._interval * 10:
                self._shorten(out.timeout_s)
        method, url, headers, body = out.method.upper(), out.url, out.headers, out.body
        jar = session.cookies
        hops = self._redirects
        sent = [0]  # when the first request bytes went out
        try:
            while True:
                pool, data = self._request(method, url, headers, body, jar)
                conn = await self._exchange(pool, data, method, keep, deadline, sent)
                status, raw, nbytes, chunks = conn.status, conn.headers, conn.nbytes, conn.body
                pool.release(conn)
                location = _take_cookies(raw, jar)
                if status not in REDIRECT_STATUSES or hops <= 0 or location is None:
                    break
                target = urljoin(url, location.decode("latin-1"))
                if not target.startswith(_SCHEME):  # not ours to follow: the 3xx answers
                    break
                hops -= 1
                url = target
                if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
                    method, body = "GET", None
                    headers = tuple(h for h in headers if h[0].lower() not in _BODY_HEADERS)
            done = self._now()
            response = None
            if keep is not None:
                response = response_of(status, raw, chunks, jar, self._compression, keep, nbytes)
        except asyncio.CancelledError:
            raise
        except _Failed as exc:
            return self._failed(exc.kind, sent[0], exc.detail)
        except Exception as exc:
            return self._failed(error_kind(exc), sent[0], error_detail(exc))
        return Reply(status, status_error(status), sent[0], done, nbytes, response)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._busy):
            conn.pool.discard(conn)
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        await asyncio.sleep(0)  # let connection_lost callbacks run

    # -- internals ----------------------------------------------------------------------

    def _shorten(self, timeout_s: float) -> None:
        self._interval = max(MIN_SWEEP_INTERVAL_S, min(self._interval, timeout_s / 10.0))

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for conn in [c for c in self._busy if c.deadline <= now]:
            _expire(conn.waiter)
        self._sweeper = loop.call_later(self._interval, self._sweep)

    def _failed(self, kind: str, sent: int, detail: str | None = None) -> Reply:
        done = self._now()
        return Reply(0, kind, sent or done, done, detail=detail)

    async def _exchange(
        self, pool: _Pool, data: bytes, method: str, keep: int | None, deadline: float, sent: list[int],
        retry: bool = True,
    ) -> _Conn:
        """Write ``data`` on a connection of ``pool`` and wait for the whole response;
        ``sent[0]`` is set when the first bytes go out. The caller releases the connection."""
        conn = pool.idle.pop() if pool.idle else await pool.acquire(deadline)
        conn.waiter = fut = pool.loop.create_future()
        conn.deadline = deadline
        conn.headers = []
        if keep is None:
            conn.body = None
        else:
            conn.body, conn.room = [], keep
        conn.nbytes = conn.status = 0
        conn.got = False
        conn.head_only = method == "HEAD"
        busy = self._busy
        busy.add(conn)
        conn.transport.write(data)
        if not sent[0]:
            sent[0] = self._now()
        try:
            await fut
        except asyncio.CancelledError:
            pool.discard(conn)
            raise
        except Exception as exc:
            pool.discard(conn)
            stale = conn.reused and not conn.got and not isinstance(exc, TimeoutError)
            if retry and stale and method in IDEMPOTENT:  # the server closed it as we wrote
                return await self._exchange(pool, data, method, keep, deadline, sent, False)
            raise
        finally:
            busy.discard(conn)
        return conn

    def _pool(self, netloc: str) -> _Pool:
        pool = self._pools.get(netloc)
        if pool is None:
            assert self._loop is not None
            pool = self._pools[netloc] = _Pool(self._loop, netloc, self.settings)
        return pool

    def _request(
        self, method: str, url: str, headers: tuple[tuple[str, str], ...], body: bytes | None, jar: dict
    ) -> tuple[_Pool, bytes]:
        """The pool ``url`` goes to and the bytes of the request."""
        if not url.startswith(_SCHEME):
            raise _Failed(CONNECT_ERROR)  # https or no scheme: not this client's
        rest = url[7:]
        end = len(rest)
        for sep in "/?#":
            i = rest.find(sep)
            if 0 <= i < end:
                end = i
        pool = self._pool(rest[:end])
        target = rest[end:].partition("#")[0] or "/"
        if target[0] == "?":
            target = "/" + target
        if not (target.isascii() and target.isprintable()) or " " in target:
            target = quote(target, safe=PATH_SAFE)
        cookie = "; ".join([f"{k}={v}" for k, v in jar.items()]) if jar else ""
        names = set()
        lines = [f"{method} {target} HTTP/1.1\r\n"]
        for name, value in headers:
            low = name.lower()
            names.add(low)
            if low == "cookie" and cookie:
                value, cookie = f"{value}; {cookie}", ""
            lines.append(f"{name}: {value}\r\n")
        if "host" not in names:
            lines.append(f"Host: {pool.host_header}\r\n")
        if "user-agent" not in names:
            lines.append(f"User-Agent: {USER_AGENT}\r\n")
        if self._compression and "accept-encoding" not in names:
            lines.append(f"Accept-Encoding: {ACCEPT_ENCODING}\r\n")
        if "content-length" not in names and (body is not None or method in BODY_METHODS):
            lines.append(f"Content-Length: {len(body or b'')}\r\n")
        if not self._keepalive and "connection" not in names:
            lines.append("Connection: close\r\n")
        if cookie:
            lines.append(f"Cookie: {cookie}\r\n")
        lines.append("\r\n")
        head = "".join(lines)
        if head.count("\n") != len(lines) or head.count("\r") != len(lines):
            raise ValueError("CR or LF inside a header")  # no request smuggling via templates
        data = head.encode("utf-8", "surrogateescape")
        return pool, data + body if body else data


def _take_cookies(raw: list[tuple[bytes, bytes]], jar: dict[str, str]) -> bytes | None:
    """Store the response's cookies in ``jar``; return its Location (None if absent)."""
    location = None
    for name, value in raw:
        size = len(name)
        if size == 10 and name.lower() == b"set-cookie":
            _set_cookie(jar, value.decode("utf-8", "surrogateescape"))
        elif size == 8 and name.lower() == b"location":
            location = value
    return location


def _set_cookie(jar: dict[str, str], header: str) -> None:
    """``name=value; attributes``: stored, or deleted when ``Max-Age`` <= 0 or ``Expires``
    is past; Path and Domain are ignored (every request goes to the one target)."""
    pair, *attributes = header.split(";")
    name, eq, value = pair.partition("=")
    name = name.strip()
    if not eq or not name:
        return
    for attribute in attributes:
        key, _, arg = attribute.partition("=")
        key = key.strip().lower()
        if key == "max-age":
            try:
                if int(arg.strip()) <= 0:
                    jar.pop(name, None)
                    return
            except ValueError:
                pass
        elif key == "expires":
            try:
                if parsedate_to_datetime(arg.strip()).timestamp() <= time.time():
                    jar.pop(name, None)
                    return
            except (TypeError, ValueError, IndexError):
                pass
    jar[name] = value.strip()
