"""One keep-alive connection: an asyncio Protocol whose responses httptools parses.

Its callbacks are the hot path of the product (DESIGN §4), so they are written for the
interpreter: no Task, Future or timer per request; the outcome is reported from
``data_received`` through the pool's callbacks. Three classes, by what a pool needs:

- :class:`Conn`: counts the body and discards it (the open-model fast path);
- :class:`HeadConn`: also answers HEAD requests (httptools cannot be told that a
  response answers a HEAD, so it would wait for a body: the response ends with its
  headers, and a fresh parser takes the connection's next response);
- :class:`CaptureConn`: also hands the headers, and at most ``room`` bytes of the
  body, to the request's context (the flow client's exchange).

Every class refuses a response that sends over ``MAX_HEADER_BYTES`` with no body byte
(its header block, interim ones included; a trailer), and ``CaptureConn`` one that gives
it over ``MAX_KEPT_HEADERS`` headers to keep (:mod:`.limits`): ``protocol``, at once, the
connection reset. The count costs nothing on a response read in one go.

States: *connecting* (a task runs ``create_connection``), *busy* (``ctx`` is set),
*idle* (in the pool's idle list), *dead* (discarded: never reused, its later callbacks
are ignored). The pool (:mod:`.pool`) moves a connection between them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httptools

from loadray.engine.failures import RefusedResponse, error_kind, status_error
from loadray.engine.http1.limits import MAX_HEADER_BYTES, MAX_KEPT_HEADERS, TOO_LONG, TOO_MANY

if TYPE_CHECKING:
    from loadray.engine.http1.pool import Pool

__all__ = ["CaptureConn", "Conn", "FREE", "HEAD", "HeadConn", "RETRY", "eof_delimited"]

# ``Conn.ctx`` of a connection with no request in flight (callers' ctx may be None).
FREE: Any = object()
RETRY = 1  # flag: idempotent, may be retried once on a stale keep-alive connection
HEAD = 2  # flag: a HEAD request, whose response has no body
# The header names kept when the body is not: Location and Set-Cookie (what a
# session follows and keeps; the others are not even stored), and their lengths.
_WANTED = frozenset({b"location", b"set-cookie"})
_WANTED_SIZES = frozenset({8, 10})


def eof_delimited(head: bytes | None) -> bool:
    """Whether a response whose headers are in ``head`` (the first chunk of it) ends at
    EOF: no length, not chunked. httptools cannot be told about EOF, so such a
    response never "completes"; when the peer closes we decide from its header block
    (a block longer than the first chunk: conservatively not). Only the rare path runs this."""
    if head is None:
        return False
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return False
    block = head[:end].lower()
    return b"\ncontent-length:" not in block and b"\ntransfer-encoding:" not in block


class Conn(asyncio.Protocol):
    """See the module docstring."""

    __slots__ = (
        "pool", "idle", "queue", "on_done", "keepalive", "transport", "parser", "task", "ctx", "data", "flags",
        "deadline", "rdeadline", "cdeadline", "nbytes", "status", "keep", "head", "connecting", "reused", "dead",
        "now", "first", "pieces", "quiet",
    )

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        # the pool's, for the hot path, bound once (the pool never replaces them)
        self.idle = pool._idle
        self.queue = pool._queue
        self.on_done = pool._on_done
        self.keepalive = pool.keepalive
        self.transport: Any = None
        self.parser: Any = None
        self.task: asyncio.Task | None = None
        self.ctx: Any = FREE  # the caller's ctx while a request is in flight
        self.data = b""  # the request's bytes (written again on a stale connection)
        self.flags = 0  # RETRY | HEAD
        self.deadline = 0.0  # loop time; 0.0 = nothing to time out
        self.rdeadline = 0.0  # the request's own deadline, kept while connecting
        self.cdeadline = 0.0  # the connect deadline
        self.nbytes = 0
        self.status = 0  # set once the final response is complete
        self.keep = False  # the completed response allows keep-alive
        self.head: bytes | None = None  # first chunk of the current response
        self.connecting = True
        self.reused = False
        self.dead = False
        self.now = pool.now  # the clock of ``first``
        self.first = 0  # when the current response's first body byte came (0: none yet)
        # body pieces of the current response: httptools hands each HTTP/1.1 chunk's data
        # apart, so a chunked body counts its chunks (one more for a chunk split between
        # two reads); any other body, the reads it came in
        self.pieces = 0
        # bytes of the current response read with no body byte since the last read with one
        # (only from its second read on: see ``_more``); 0 whenever a response begins
        self.quiet = 0

    def _protocol(self) -> Conn:
        return self

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.connecting = False
        if self.dead:  # closed or timed out while connecting
            transport.abort()
            return
        self.parser = httptools.HttpResponseParser(self)
        self.pool._connected(self)

    def data_received(self, data: bytes) -> None:
        # a response's first read is never over MAX_HEADER_BYTES (asyncio reads at most
        # 256 KiB at a time, uvloop 256,000 bytes): only the later ones are counted
        if self.head is None:
            self.head = data
            try:
                self.parser.feed_data(data)
            except Exception as exc:
                self.pool._parse_error(self, exc)
                return
        elif not self._more(data):
            return
        status = self.status
        if status:
            ctx = self.ctx
            nbytes = self.nbytes
            first = self.first
            chunks = self.pieces
            self.first = self.pieces = 0
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
                self.pool._drop(self, None, graceful=True)
                if ctx is FREE:  # an answer nobody asked for
                    return
            self.on_done(ctx, status, None if status < 400 else status_error(status), nbytes, None, first, chunks)

    def _more(self, data: bytes) -> bool:
        """Feed a later read of the current response, counting what came with no body
        byte (:mod:`.limits`); False when the response failed (a parse error, or over
        :data:`MAX_HEADER_BYTES`: refused). The rare path: one call per read after the first."""
        seen = self.nbytes
        try:
            self.parser.feed_data(data)
        except Exception as exc:
            self.pool._parse_error(self, exc)
            return False
        body = self.nbytes - seen
        if body and seen and not self.quiet:  # body after body, nothing counted: nothing to count
            return True
        quiet = self.quiet + len(data) - body
        if (quiet if seen else quiet + len(self.head or b"")) > MAX_HEADER_BYTES:  # (no body yet: the first read too)
            self._refuse(TOO_LONG)
            return False
        self.quiet = 0 if body or self.status else quiet
        return True

    def _refuse(self, why: str) -> None:
        """Fail the request as refused (``protocol``), resetting the connection."""
        exc = RefusedResponse(why)
        self.pool._drop(self, error_kind(exc), exc)

    def eof_received(self) -> None:
        if not self.dead:
            self.pool._lost(self, None)
        # returning None lets the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.dead:
            self.pool._lost(self, exc)

    # -- httptools callbacks -------------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        self.nbytes += len(body)
        self.pieces += 1
        if not self.first:
            self.first = self.now()

    def on_message_complete(self) -> None:
        # Read both here: llhttp resets its flags once this callback returns.
        parser = self.parser
        status = parser.get_status_code()
        if status >= 200:  # 1xx interim responses are followed by the real one
            self.status = status
            self.keep = self.keepalive and parser.should_keep_alive()

    # -- connect task ----------------------------------------------------------------------

    def _connect_done(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return  # we cancelled it: already accounted for
        exc = task.exception()
        if exc is not None and not self.dead:
            self.pool._drop(self, error_kind(exc, True), exc)


class HeadConn(Conn):
    """A :class:`Conn` that also sends HEAD requests."""

    __slots__ = ()

    def on_headers_complete(self) -> None:
        if self.flags & HEAD:
            parser = self.parser
            status = parser.get_status_code()
            if status >= 200:
                self.status = status
                self.keep = self.keepalive and parser.should_keep_alive()
                # this parser would wait for the body a HEAD never gets; the next
                # response on the connection goes to a fresh one
                self.parser = httptools.HttpResponseParser(self)

    def on_message_complete(self) -> None:
        if not self.flags & HEAD:
            Conn.on_message_complete(self)


class CaptureConn(HeadConn):
    """A :class:`HeadConn` that keeps the response's headers and the first ``ctx.room``
    bytes of its body in the request's ``ctx`` (``response_headers``; ``chunks``: None
    keeps no body, and of the headers only Location, Set-Cookie and the framing ones),
    and times it: ``ctx.first`` (``ctx.now()`` at the first body byte), ``ctx.pieces``
    (body pieces read), ``ctx.ends`` (HTTP/1.1 chunk ends, the empty last one included)
    and, when ``ctx.log`` is a :class:`~loadray.stream.ChunkLog`, every piece and chunk end."""

    __slots__ = ()

    def on_header(self, name: bytes, value: bytes) -> None:
        ctx = self.ctx
        if ctx is not FREE and (ctx.chunks is not None or (len(name) in _WANTED_SIZES and name.lower() in _WANTED)):
            kept = ctx.response_headers
            if len(kept) < MAX_KEPT_HEADERS:
                kept.append((name, value))
            else:
                self._refuse(TOO_MANY)

    def on_body(self, body: bytes) -> None:
        self.nbytes += len(body)
        ctx = self.ctx
        if ctx is FREE:
            return
        if not ctx.first:
            ctx.first = ctx.now()
        ctx.pieces += 1
        if ctx.log is not None:
            ctx.log.body(body)
        if ctx.room > 0:
            if len(body) > ctx.room:
                body = body[: ctx.room]
            ctx.chunks.append(body)
            ctx.room -= len(body)

    def on_chunk_complete(self) -> None:
        ctx = self.ctx
        if ctx is not FREE:
            ctx.ends += 1
            if ctx.log is not None:
                ctx.log.chunk_end()

    def on_message_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if status >= 200:
            if not self.flags & HEAD:  # a HEAD's response completed with its headers
                self.status = status
                self.keep = self.keepalive and parser.should_keep_alive()
        elif status and self.ctx is not FREE:  # interim: the real response follows
            self.ctx.response_headers.clear()
        # (0: the end of a HEAD's response, on the parser it had)
