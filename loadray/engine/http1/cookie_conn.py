"""The connection of the callback-driven flow path's static steps: a
:class:`~loadray.engine.http1.conn.HeadConn` that keeps a response's ``Set-Cookie``
headers without a Python call per header.

:class:`~loadray.engine.http1.conn.CaptureConn` has httptools call ``on_header`` for
every header line of every response (five for nginx's smallest answer) only to keep the
rare ``Set-Cookie``. Here the response's bytes up to the end of its (final) header
block are kept as they arrive (in practice: the first read) and searched for
``set-cookie`` once, in any case (its ``data_received`` is ``Conn``'s with that
added); only a block that holds it is parsed again, by a
parser of its own whose ``on_header`` keeps what ``CaptureConn``'s would (``Set-Cookie``
and ``Location``, of the final response: an interim response's are dropped). Headers
in a chunked body's trailer are not looked at.

Into the request's ``ctx`` go ``response_headers`` (set only when the block has a
``Set-Cookie``), ``first`` (``ctx.now()`` at the first body byte), ``pieces`` (body
pieces read) and ``ends`` (HTTP/1.1 chunk ends, the empty last one included), as
``CaptureConn`` puts them (no body is kept).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httptools

from loadray.engine.failures import status_error
from loadray.engine.http1.conn import _WANTED, _WANTED_SIZES, FREE, HEAD, HeadConn
from loadray.engine.http1.limits import MAX_KEPT_HEADERS, TOO_MANY

if TYPE_CHECKING:
    from loadray.engine.http1.pool import Pool

__all__ = ["CookieConn", "kept_headers"]

_NAME = b"set-cookie"
_END = b"\r\n\r\n"
_SHORT = 512  # a block this long or shorter is searched whole


class CookieConn(HeadConn):
    """See the module docstring."""

    __slots__ = ("block", "interims")

    def __init__(self, pool: Pool) -> None:
        super().__init__(pool)
        # the response so far, until its header block is complete (a bytearray from its
        # second read on: it grows in place; ``_more`` bounds it)
        self.block: bytes | bytearray | None = None
        self.interims = 0  # 1xx responses before the final one, in ``block``

    def data_received(self, data: bytes) -> None:  # Conn's, keeping the header block
        if self.head is None:  # a response begins
            self.head = self.block = data
            self.interims = 0
            try:
                self.parser.feed_data(data)
            except Exception as exc:
                self.pool._parse_error(self, exc)
                return
        else:
            block = self.block
            if block is not None:  # its header block goes on in this read
                if type(block) is bytes:
                    self.block = block = bytearray(block)
                block += data
            if not self._more(data):
                return
        status, ctx = self.status, self.ctx
        if status:  # complete: the connection is free again (the timing is in ctx)
            self.status, self.ctx, self.deadline, self.reused = 0, FREE, 0.0, True
            if ctx is FREE or not self.keep:
                self.pool._drop(self, None, graceful=True)
                if ctx is FREE:  # an answer nobody asked for
                    return
            elif self.queue:
                self.pool._start_queued(self)
            else:
                self.idle.append(self)
            self.on_done(ctx, status, None if status < 400 else status_error(status), self.nbytes, None, 0, None)

    def on_headers_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if status < 200:  # interim: the final response's header block follows
            self.interims += 1
            return
        block, self.block = self.block, None
        if block is not None and self.ctx is not FREE:
            head = block
            if len(block) > _SHORT and not self.interims:  # a body read with it: search the header block only
                end = block.find(_END)
                if end > 0:
                    head = block[:end]
            if _NAME in head.lower():
                kept = kept_headers(block)
                if kept is None:
                    self._refuse(TOO_MANY)
                    return
                self.ctx.response_headers = kept
        if self.flags & HEAD:
            self.status = status
            self.keep = self.keepalive and parser.should_keep_alive()
            # this parser would wait for the body a HEAD never gets
            self.parser = httptools.HttpResponseParser(self)

    def on_body(self, body: bytes) -> None:
        self.nbytes += len(body)
        ctx = self.ctx
        if ctx is not FREE:
            if not ctx.first:
                ctx.first = ctx.now()
            ctx.pieces += 1

    def on_chunk_complete(self) -> None:
        ctx = self.ctx
        if ctx is not FREE:
            ctx.ends += 1

    def on_message_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if status >= 200 and not self.flags & HEAD:  # (a HEAD's response completed with its headers)
            self.status = status
            self.keep = self.keepalive and parser.should_keep_alive()


class _Kept:
    """httptools callbacks: the wanted headers of a response's final header block."""

    __slots__ = ("parser", "found", "final", "over")

    def __init__(self) -> None:
        self.parser: Any = None
        self.found: list[tuple[bytes, bytes]] = []
        self.final = False
        self.over = False  # more than MAX_KEPT_HEADERS to keep

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.final and len(name) in _WANTED_SIZES and name.lower() in _WANTED:
            if len(self.found) < MAX_KEPT_HEADERS:
                self.found.append((name, value))
            else:
                self.over = True

    def on_headers_complete(self) -> None:
        if self.parser.get_status_code() < 200:
            self.found.clear()  # an interim response's
        else:
            self.final = True


def kept_headers(block: bytes | bytearray) -> list[tuple[bytes, bytes]] | None:
    """The ``Set-Cookie`` and ``Location`` headers (name, value) of the final response
    whose header block ``block`` (the bytes a connection read since the response
    began) completes, as httptools hands them to ``on_header``; None when there are
    more than ``MAX_KEPT_HEADERS`` of them."""
    kept = _Kept()
    kept.parser = httptools.HttpResponseParser(kept)
    try:
        kept.parser.feed_data(block)
    except Exception:  # what follows the header block (the connection's parser judged it)
        pass
    return None if kept.over else kept.found
