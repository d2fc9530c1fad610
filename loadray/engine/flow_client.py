"""The HTTP client of flows, on aiohttp: one connector per worker, one session (and so
one cookie jar) per virtual user or open-model flow instance.

Unlike a :class:`~loadray.engine.transport.Transport` it is awaited per request and
returns the response when the step needs it (extraction, checks): status, headers,
cookies and at most ``keep`` bytes of the body (the step's ``max_body``); the rest is
read, counted in ``nbytes`` and discarded as it arrives. Failures are never raised:
they come back as a :class:`Reply` with an error kind and the exception as its detail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from loadray.engine.aiohttp_connector import DiscardingConnector
from loadray.engine.aiohttp_transport import USER_AGENT, body_pieces, ssl_context
from loadray.engine.clock import Clock
from loadray.engine.failures import error_detail, error_kind, status_error
from loadray.engine.step_request import StepRequest
from loadray.engine.transport import TransportSettings
from loadray.flow.render import Rendered
from loadray.flow.response import Response
from loadray.stream import ChunkLog, StreamSpec


@dataclass(slots=True)
class Reply:
    status: int
    error: str | None
    sent_ns: int
    done_ns: int
    nbytes: int = 0
    response: Response | None = field(default=None)  # only when the step asked for it
    detail: str | None = None  # the exception behind ``error``, when there was one
    ttfb_ns: int | None = None  # first body byte (gRPC: message) after send, when measured
    chunks: int | None = None  # body chunks / SSE events / gRPC messages, when counted
    marks: list | None = None  # with ``stream:`` on the step: each chunk's (t, bytes, tokens, usage) (loadray.stream)


class StepClient(Protocol):
    """What the flow runner sends a step with (:class:`FlowClient`, the HTTP/1.1 core's
    :class:`~loadray.engine.fast_client.FastFlowClient`, a fenced wrapper of either)."""

    def send(self, session: Any, out: Rendered | StepRequest, keep: int | None) -> Awaitable[Reply]: ...


class SessionClient(StepClient, Protocol):
    """A flow client with its life cycle: a session per user (its cookie jar)."""

    async def open(self) -> None: ...

    def session(self) -> Any: ...

    async def close(self) -> None: ...


#: Builds a worker's flow client: (settings, clock) -> client.
FlowClientFactory = Callable[[TransportSettings, Clock], SessionClient]


class FlowClient:
    def __init__(self, settings: TransportSettings, clock: Clock) -> None:
        self.settings = settings
        self._now = clock.monotonic_ns
        self._connector: DiscardingConnector | None = None
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_s, sock_connect=settings.connect_timeout_s)

    async def open(self) -> None:
        s = self.settings
        self._connector = DiscardingConnector(
            limit=max(1, int(s.max_connections)),
            limit_per_host=0,
            force_close=not s.keepalive,
            ssl=ssl_context(s),
        )

    def session(self) -> aiohttp.ClientSession:
        """A new session (a fresh cookie jar) on the shared connector."""
        assert self._connector is not None, "open() first"
        compression = self.settings.compression
        return aiohttp.ClientSession(
            connector=self._connector,
            connector_owner=False,
            timeout=self._timeout,
            auto_decompress=compression,
            skip_auto_headers=() if compression else ("Accept-Encoding",),
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # unsafe: cookies for IP hosts too
            headers={"User-Agent": USER_AGENT},
        )

    async def send(self, session: aiohttp.ClientSession, out: Rendered | StepRequest, keep: int | None) -> Reply:
        """Send ``out``; keep None: no response object; else one with at most ``keep``
        bytes of the body."""
        redirects = self.settings.redirects
        timeout = self._timeout if out.timeout_s is None else aiohttp.ClientTimeout(
            total=out.timeout_s, sock_connect=self.settings.connect_timeout_s
        )
        sent = self._now()
        timing = BodyTiming(self._now, out.stream)
        try:
            async with session.request(
                out.method,
                out.url,
                headers=out.headers,
                data=out.body,
                timeout=timeout,
                allow_redirects=redirects > 0,
                max_redirects=redirects + 1,  # aiohttp gives up on the Nth 3xx, having followed N - 1
            ) as resp:
                body, nbytes = await _read(resp.content, keep, timing)
                status = resp.status
                headers = resp.headers
        except asyncio.CancelledError:
            raise
        except aiohttp.TooManyRedirects as exc:  # the limit is reached: the last 3xx answers
            status, headers, body, nbytes = exc.history[-1].status, exc.history[-1].headers, b"", 0
        except Exception as exc:
            return timing.timed(Reply(0, error_kind(exc), sent, self._now(), detail=error_detail(exc)))
        done = self._now()
        response = None
        if keep is not None:
            cookies = {c.key: c.value for c in session.cookie_jar}
            response = Response(status, dict(headers), body, cookies, nbytes > len(body))
        return timing.timed(Reply(status, status_error(status), sent, done, nbytes, response))

    async def close(self) -> None:
        if self._connector is not None:
            await self._connector.close()


class BodyTiming:
    """The timing of one response body as aiohttp hands it out: the first byte, the
    pieces read, the HTTP/1.1 chunk ends, and a :class:`~loadray.stream.ChunkLog` with
    ``stream:``. (aiohttp reads ahead: a piece is timed when the client takes it, and
    several network reads may come as one piece.)"""

    __slots__ = ("now", "sent", "first", "pieces", "ends", "log")

    def __init__(self, now: Callable[[], int], stream: StreamSpec | None) -> None:
        self.now = now
        self.first = self.pieces = self.ends = 0
        self.log = ChunkLog(stream, now) if stream is not None else None

    def piece(self, data: bytes, chunk_end: bool) -> None:
        if data:
            if not self.first:
                self.first = self.now()
            self.pieces += 1
            if self.log is not None:
                self.log.body(data)
        if chunk_end:
            self.ends += 1
            if self.log is not None:
                self.log.chunk_end()

    def timed(self, reply: Reply) -> Reply:
        """``reply`` with ``ttfb_ns``, ``chunks`` and the marks (as the HTTP/1.1 core's)."""
        if reply.status == 0 and not self.first:
            return reply
        if self.log is not None:
            reply.marks = self.log.finish()
            reply.chunks = len(reply.marks)
        else:
            reply.chunks = self.ends if self.ends else self.pieces
        if self.first:
            reply.ttfb_ns = self.first - reply.sent_ns
        return reply


async def _read(content: aiohttp.StreamReader, keep: int | None, timing: BodyTiming) -> tuple[bytes, int]:
    """The first ``keep`` bytes of the body and its whole length; the rest is dropped
    chunk by chunk as it arrives."""
    room = keep or 0
    chunks, nbytes = [], 0
    async for chunk, end in body_pieces(content):
        timing.piece(chunk, end)
        nbytes += len(chunk)
        if room > 0:
            chunks.append(chunk[:room])
            room -= len(chunks[-1])
    return b"".join(chunks), nbytes
