"""One request on HTTP/2: the stream's state as frames arrive, and the awaitable the
flow runner waits on (a :class:`~loadray.engine.inline_task.Resumable`, so an
:class:`~loadray.engine.inline_task.InlineTask` resumes inside ``data_received``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loadray.engine.inline_task import Resumable

if TYPE_CHECKING:
    from loadray.engine.h2.conn import H2Conn
    from loadray.engine.h2.pool import H2Pool

__all__ = ["Exchange"]


class Exchange(Resumable):
    __slots__ = (
        "jar", "keep", "sent", "deadline", "head", "body", "pool", "conn", "sid", "timer", "status",
        "headers", "first_ns", "chunks", "nbytes", "kept", "room", "now", "method", "url", "request_headers", "hops",
    )

    def __init__(self, now: Any, jar: dict[str, str], keep: int | None, sent: int, deadline: int) -> None:
        Resumable.__init__(self)
        self.now = now  # the client's monotonic clock (ns)
        self.jar = jar
        self.keep = keep
        self.sent = sent
        self.deadline = deadline
        self.head: list[tuple[bytes, bytes]] = []
        self.body: bytes | None = None
        self.pool: H2Pool | None = None
        self.conn: H2Conn | None = None
        self.sid = 0
        self.timer: Any = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.first_ns: int | None = None  # the first DATA frame's arrival (monotonic ns)
        self.chunks = 0  # DATA frames with a payload
        self.nbytes = 0
        self.kept: list[bytes] | None = [] if keep is not None else None
        self.room = keep or 0
        self.method = "GET"  # the request as asked (a redirect rewrites it)
        self.url = ""
        self.request_headers: tuple[tuple[str, str], ...] = ()
        self.hops = 0  # redirects it may still follow

    def again(self, method: str, url: str, headers: tuple[tuple[str, str], ...], body: bytes | None) -> None:
        """Ready to send the request a redirect asks for (the same deadline)."""
        self.method, self.url, self.request_headers, self.body = method, url, headers, body
        self.hops -= 1
        self.conn, self.sid, self.status, self.headers = None, 0, 0, []
        self.first_ns, self.chunks, self.nbytes = None, 0, 0
        self.kept = [] if self.keep is not None else None
        self.room = self.keep or 0

    def headers_in(self, headers: list[tuple[bytes, bytes]]) -> None:
        for name, value in headers:
            if name == b":status":
                self.status = int(value)
            elif name[:1] != b":":
                self.headers.append((name, value))

    def data_in(self, data: bytes) -> None:
        size = len(data)
        if not size:
            return
        if self.first_ns is None:
            self.first_ns = self.now()
        self.chunks += 1
        self.nbytes += size
        if self.room > 0 and self.kept is not None:
            piece = data[: self.room]
            self.kept.append(piece)
            self.room -= len(piece)

    def abandon(self) -> None:
        if self.pool is not None:
            self.pool.cancel(self)
