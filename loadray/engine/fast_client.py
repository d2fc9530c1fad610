"""The flow client on the HTTP/1.1 core (:mod:`.http1`): the lean twin of
:class:`~loadray.engine.flow_client.FlowClient` (same interface, same :class:`Reply`)
for plain ``http`` targets.

- one core pool per ``host:port`` (at most ``max_connections`` connections each; a
  request that finds its pool full waits in the pool's queue, FIFO);
- ``send`` returns the step's exchange, a :class:`~loadray.engine.inline_task.Resumable`
  completed from the pool's callbacks: no Task, no timer, and under an
  :class:`~loadray.engine.inline_task.InlineTask` the flow goes on inside the callback;
- a fixed :class:`~loadray.engine.step_request.StepRequest` (a step without variables)
  is serialized once; its attempts splice in their trace and the session's cookies;
- a session is a plain cookie jar (name -> value), sent back as one ``Cookie`` header;
- redirects are followed here, up to ``redirects`` hops (a 303, or a 301/302 answering
  a POST, turns into a GET without a body); a hop to another scheme is not followed:
  the 3xx answers. All hops share the step's one deadline;
- bodies are counted, and kept (at most ``keep`` bytes: the step's ``max_body``; the
  rest is counted and dropped as it arrives) and decoded (at most ``keep`` bytes out:
  no decompression bomb) only when asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from urllib.parse import urljoin, urlsplit

from loadray.engine.clock import Clock
from loadray.engine.failures import error_detail, error_kind, status_error
from loadray.engine.flow_client import Reply
from loadray.engine.http1 import (
    HEAD,
    IDEMPOTENT,
    RETRY,
    CaptureConn,
    Pool,
    cookie_header,
    cookie_line,
    head_parts,
    response_of,
    sets_cookie,
    split_http_url,
    take_cookies,
)
from loadray.engine.inline_task import Resumable
from loadray.engine.step_request import StepRequest
from loadray.engine.transport import TransportSettings
from loadray.flow.render import Rendered
from loadray.kinds import CONNECT_ERROR, CUT
from loadray.stream import ChunkLog, StreamSpec

__all__ = ["FastFlowClient", "FlowSession"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = frozenset({"content-length", "content-type"})  # dropped when a redirect turns into GET
_MAX_TARGETS = 4096


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


class _Exchange(Resumable):
    """One step in flight, redirects included: the core pool's ``ctx`` (its connection
    fills ``response_headers`` and ``chunks``); awaited, it is the step's :class:`Reply`."""

    __slots__ = (
        "client", "jar", "keep", "hops", "sent", "deadline", "method", "url", "headers", "body", "request", "pool",
        "response_headers", "chunks", "room", "now", "stream", "first", "pieces", "ends", "log",
    )
    # set by the client before the request goes out
    deadline: int  # monotonic ns: every hop shares it
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] | None  # None: the fixed request's own (``request``)
    body: bytes | None
    response_headers: list[tuple[bytes, bytes]]

    def __init__(
        self, client: FastFlowClient, jar: dict[str, str], keep: int | None, sent: int, stream: StreamSpec | None,
    ) -> None:
        # Resumable's slots set here: one call less on every step
        self._resume = self._future = None
        self.completed = False
        self.result = None
        self.client = client
        self.jar = jar
        self.keep = keep
        self.hops = client._redirects
        self.sent = sent
        self.request: StepRequest | None = None
        self.pool: Pool | None = None
        self.chunks: list[bytes] | None = None
        self.room = 0  # (the other slots are set by the client before the request goes out)
        self.now = client._now
        self.stream = stream
        self.log: ChunkLog | None = None
        self.response_headers = []
        self.first = self.pieces = self.ends = 0  # timing of the hop's response

    def abandon(self) -> None:
        if self.pool is not None:
            self.pool.cancel(self)


def _failed(ex: _Exchange, kind: str, exc: BaseException | None) -> None:
    client = ex.client
    reply = Reply(0, kind, ex.sent, client._now(), detail=None if exc is None else error_detail(exc))
    client._finish(ex, timed(reply, ex))  # a stream cut short keeps the chunks it got


def timed(reply: Reply, ex: _Exchange) -> Reply:
    """``reply`` with the timing of ``ex``'s response: ``ttfb_ns`` (None without a body
    byte), ``chunks`` (the stream's marks with ``stream:``; else HTTP/1.1 chunks of a
    chunked body, pieces read of any other) and the marks."""
    if reply.status == 0 and not ex.first:
        return reply  # no response: nothing measured
    log = ex.log
    if log is not None:
        reply.marks = log.finish()
        reply.chunks = len(reply.marks)
    else:
        reply.chunks = ex.ends - 1 if ex.ends else ex.pieces
    if ex.first:
        reply.ttfb_ns = ex.first - ex.sent
    return reply


def _flags(method: str) -> int:
    return (RETRY if method in IDEMPOTENT else 0) | (HEAD if method == "HEAD" else 0)


class _NotOurs(Exception):
    """A URL this client cannot send (not plain http)."""


def next_hop(
    status: int, method: str, url: str, location: bytes, headers: tuple[tuple[str, str], ...], body: bytes | None,
) -> tuple[str, str, tuple[tuple[str, str], ...], bytes | None] | None:
    """The request a redirect asks for, or None when it is not followed (another scheme)."""
    target = urljoin(url, location.decode("latin-1"))
    if split_http_url(target) is None:
        return None
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET", target, tuple(h for h in headers if h[0].lower() not in _BODY_HEADERS), None
    return method, target, headers, body


class FastFlowClient:
    """See the module docstring; the interface is :class:`~loadray.engine.flow_client.FlowClient`'s."""

    def __init__(self, settings: TransportSettings, clock: Clock) -> None:
        self.settings = settings
        self._now = clock.monotonic_ns
        self._wall_s = lambda: clock.wall_ns() / 1e9  # a cookie's Expires is a wall time
        self._timeout = float(settings.timeout_s)
        self._redirects = settings.redirects
        self._compression = settings.compression
        self._keepalive = settings.keepalive
        self._pools: dict[str, Pool] = {}  # netloc -> pool
        self._targets: dict[str, tuple[Pool, str, str]] = {}  # url -> (pool, netloc, target)
        self._kept: dict[int, tuple] = {}  # id(fixed request) -> its bytes (see _keep_bytes)
        self._shortest = min(self._timeout, float(settings.connect_timeout_s))  # timeout the sweepers serve
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()

    def session(self) -> FlowSession:
        """A new session: a fresh cookie jar."""
        return FlowSession()

    def send(self, session: FlowSession, out: Rendered | StepRequest, keep: int | None) -> Awaitable[Reply]:
        """Send ``out``; keep None: no response object; else one with at most ``keep``
        bytes of the (decoded) body. Awaiting the result gives the :class:`Reply`.
        The bytes of a ``fixed`` :class:`StepRequest` are built once, its trace spliced in."""
        assert self._loop is not None, "open() first"
        fixed = type(out) is StepRequest and out.fixed
        base = out.base if type(out) is StepRequest else out
        ex = _Exchange(self, session.cookies, keep, self._now(), base.stream)
        timeout = base.timeout_s
        if timeout is None:
            timeout = self._timeout
        elif timeout < self._shortest:
            self._shorten(timeout)
        ex.deadline = ex.sent + int(timeout * 1e9)  # monotonic ns: every hop shares it
        if self._closed:
            self._finish(ex, Reply(0, CUT, ex.sent, ex.sent))
        elif fixed:
            self._send_fixed(ex, out)  # type: ignore[arg-type]  # (a fixed one is a StepRequest)
        else:
            self._hop(ex, out.method.upper(), out.url, out.headers, out.body)
        return ex

    async def close(self) -> None:
        """Fail what is in flight as ``cut``; a request sent afterwards is ``cut`` too."""
        self._closed = True
        pools = list(self._pools.values())
        self._pools.clear()
        self._targets.clear()
        self._kept.clear()
        for pool in pools:
            await pool.close()

    # -- internals ----------------------------------------------------------------------

    def _hop(self, ex: _Exchange, method: str, url: str, headers: tuple[tuple[str, str], ...], body: bytes | None) -> None:
        """Hand one request of ``ex`` to its pool (the outcome comes back to
        :meth:`_answered` or :func:`_failed`)."""
        ex.method, ex.url, ex.headers, ex.body = method, url, headers, body
        try:
            pool, netloc, target = self._targets.get(url) or self._target(url)
            jar = ex.jar
            before, after = head_parts(method, target, netloc, headers, body, self._keepalive, self._compression,
                                       cookie_header(jar) if jar else "")
        except _NotOurs:
            self._finish(ex, Reply(0, CONNECT_ERROR, ex.sent, self._now()))
            return
        except Exception as exc:  # a bad header or URL
            self._finish(ex, Reply(0, error_kind(exc), ex.sent, self._now(), detail=error_detail(exc)))
            return
        self._dispatch(ex, pool, b"".join((before, after, b"\r\n", body or b"")), _flags(method))

    def _send_fixed(self, ex: _Exchange, out: StepRequest) -> None:
        """Send a fixed step: its bytes are built on its first attempt, kept by its
        ``base``; the attempt's trace and the session's cookies are spliced in."""
        base = out.base
        kept = self._kept.get(id(base))
        if kept is None or kept[0] is not base:
            kept = self._keep_bytes(base)
        jar = ex.jar
        if kept is None or (jar and kept[5]):  # cannot be sent, or cookies merge into its own
            self._hop(ex, base.method.upper(), base.url, out.headers, base.body)
            return
        _, pool, method, before, after, _, flags, whole, tail = kept
        ex.method, ex.url, ex.headers, ex.body, ex.request = method, base.url, None, base.body, out
        trace = out.traceparent
        if jar:
            parts = [before, after, cookie_line(cookie_header(jar)), b"\r\n", base.body or b""]
            if trace:
                parts[1:1] = [b"traceparent: ", trace if isinstance(trace, bytes) else trace.encode(), b"\r\n"]
            data = b"".join(parts)
        elif trace:  # the common case: two joins of bytes kept
            data = b"".join((before, b"traceparent: ", trace if isinstance(trace, bytes) else trace.encode(), tail))
        else:
            data = whole
        self._dispatch(ex, pool, data, flags)

    def _keep_bytes(self, base: Rendered) -> tuple | None:
        """``(base, pool, method, before, after, sets a cookie, flags, the whole request,
        what follows a trace header)`` of a fixed request, kept for its next attempts;
        None when it cannot be sent as it is."""
        method = base.method.upper()
        try:
            pool, netloc, target = self._targets.get(base.url) or self._target(base.url)
            before, after = head_parts(method, target, netloc, base.headers, base.body, self._keepalive,
                                       self._compression)
        except Exception:
            return None
        if len(self._kept) >= _MAX_TARGETS:
            self._kept.clear()
        tail = b"".join((b"\r\n", after, b"\r\n", base.body or b""))
        kept = self._kept[id(base)] = (base, pool, method, before, after, sets_cookie(base.headers), _flags(method),
                                       before + tail[2:], tail)
        return kept

    def _dispatch(self, ex: _Exchange, pool: Pool, data: bytes, flags: int) -> None:
        ex.pool = pool
        if ex.stream is not None:
            ex.log = ChunkLog(ex.stream, self._now)
        if ex.keep is not None:
            ex.chunks, ex.room = [], ex.keep
        assert self._loop is not None
        pool.send(data, ex, (ex.deadline - self._now()) / 1e9, flags)

    def _answered(self, ex: _Exchange, status: int, error: str | None, nbytes: int, *_: object) -> None:
        """A response to ``ex``'s request (the pools' ``on_done``; the timing it passes
        is the connection's, the exchange times its own): follow it, or finish ``ex``
        with it."""
        try:
            location = take_cookies(ex.response_headers, ex.jar, self._wall_s) if ex.response_headers else None
            if location is not None and ex.hops > 0 and status in REDIRECT_STATUSES:
                headers = ex.headers
                if headers is None:  # a fixed request: its headers are the StepRequest's
                    assert ex.request is not None
                    headers = ex.request.headers
                hop = next_hop(status, ex.method, ex.url, location, headers, ex.body)
                if hop is not None:
                    ex.hops -= 1
                    ex.response_headers = []
                    ex.first = ex.pieces = ex.ends = 0  # timing of the next hop's response
                    self._hop(ex, *hop)
                    return
            done = self._now()
            response = None
            if ex.keep is not None:
                response = response_of(status, ex.response_headers, ex.chunks, ex.jar, self._compression, ex.keep,
                                       nbytes)
        except Exception as exc:  # a broken compressed body
            self._finish(ex, Reply(0, error_kind(exc), ex.sent, self._now(), detail=error_detail(exc)))
            return
        ex.pool = None  # (_finish, inline)
        ex.complete(timed(Reply(status, None if status < 400 else status_error(status), ex.sent, done, nbytes,
                                response), ex))

    @staticmethod
    def _finish(ex: _Exchange, reply: Reply) -> None:
        ex.pool = None
        ex.complete(reply)

    def _target(self, url: str) -> tuple[Pool, str, str]:
        """The pool, netloc and request target of ``url`` (kept for the next time)."""
        split = split_http_url(url)
        if split is None:
            raise _NotOurs(url)  # https or no scheme: not this client's
        netloc, target = split
        pool = self._pools.get(netloc) or self._pool(netloc)
        if len(self._targets) >= _MAX_TARGETS:  # templated URLs: do not grow without bound
            self._targets.clear()
        self._targets[url] = found = (pool, netloc, target)
        return found

    def _pool(self, netloc: str) -> Pool:
        parts = urlsplit("http://" + netloc)
        pool = Pool(parts.hostname or "", parts.port or 80, self.settings, self._answered, _failed, CaptureConn)
        pool.shorten(self._shortest)
        self._pools[netloc] = pool
        return pool

    def _shorten(self, timeout_s: float) -> None:
        """A step with a shorter timeout than any so far: every pool sweeps for it."""
        self._shortest = timeout_s
        for pool in self._pools.values():
            pool.shorten(timeout_s)
