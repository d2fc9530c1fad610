"""The fallback transport: one shared aiohttp ClientSession, one task per request.

It sends what the fast transport does not (https, client certificates, following
redirects, HEAD, several hosts) at roughly 15x the CPU per request (DESIGN §4), so it
is the fallback, never the default for plain http. Bodies are never decompressed
(``compression`` only asks for it), so byte counts match the fast transport's.
Redirects are followed only when ``settings.redirects`` allows: up to that many, and
when the limit is reached the last 3xx is the answer.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from yarl import URL

from loadray.engine.aiohttp_connector import DiscardingConnector
from loadray.engine.clock import Clock
from loadray.engine.failures import error_kind, status_error
from loadray.engine.transport import (
    ACCEPT_ENCODING,
    USER_AGENT,
    DoneCallback,
    PreparedRequest,
    Transport,
    TransportSettings,
    traceparent,
)
from loadray.kinds import CUT

__all__ = ["AiohttpTransport", "body_pieces", "ssl_context"]


def ssl_context(settings: TransportSettings) -> ssl.SSLContext | bool:
    """What aiohttp's ``ssl=`` takes for these settings: ``True`` (its default verifying
    context), ``False`` (no verification) or a context (a CA bundle to trust and/or a
    client certificate). A missing or unreadable file raises ``OSError``/``ssl.SSLError``."""
    if not settings.cert_file:
        if not settings.verify:
            return False
        if not settings.ca_file:
            return True
    ctx = ssl.create_default_context(cafile=settings.ca_file or None)
    if not settings.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if settings.cert_file:
        ctx.load_cert_chain(settings.cert_file, settings.key_file or None)
    return ctx


class AiohttpTransport(Transport):
    """Same contract as :class:`~loadray.engine.fast.FastTransport`, on aiohttp."""

    def __init__(
        self,
        requests: list[PreparedRequest],
        settings: TransportSettings,
        on_done: DoneCallback,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(requests, settings, on_done, clock)
        auto = {"User-Agent": USER_AGENT}
        if settings.compression:
            auto["Accept-Encoding"] = ACCEPT_ENCODING
        self._prepared = [
            (r.method.upper(), URL(r.url), _headers(auto, r.headers), r.body) for r in requests
        ]
        # a request that sets its own traceparent keeps it
        self._traced = [
            bool(settings.trace_prefix) and "traceparent" not in {k.lower() for k, _ in r.headers}
            for r in requests
        ]
        self._follow = settings.redirects > 0
        # aiohttp gives up on the Nth 3xx it sees, having followed N - 1 of them
        self._max_redirects = settings.redirects + 1
        self._session: aiohttp.ClientSession | None = None
        self._tasks: dict[asyncio.Task, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def open(self, prewarm: int = 0) -> None:
        # ``prewarm`` is not honoured: aiohttp has no public way to open idle
        # connections without sending a request, and we send none the user did not ask for.
        if self._session is not None:
            return
        s = self.settings
        self._loop = asyncio.get_running_loop()
        connector = DiscardingConnector(
            limit=max(1, int(s.max_connections)),
            limit_per_host=0,
            force_close=not s.keepalive,
            ssl=ssl_context(s),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=s.timeout_s, sock_connect=s.connect_timeout_s),
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    def submit(self, index: int, ctx: Any, trace: int = 0) -> None:
        loop = self._loop or asyncio.get_running_loop()
        if self._closed or self._session is None:
            loop.call_soon(self.on_done, ctx, 0, CUT, 0)
            return
        task = loop.create_task(self._send(index, trace))
        self._tasks[task] = ctx
        task.add_done_callback(functools.partial(self._task_done, ctx))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    # -- internals -----------------------------------------------------------------

    async def _send(self, index: int, trace: int) -> tuple[int, str | None, int, int, int, int | None]:
        started_ns = self.clock.monotonic_ns()  # the task runs now, not when it was submitted
        method, url, headers, body = self._prepared[index]
        if trace and self._traced[index]:
            headers = {**headers, "traceparent": traceparent(self.settings.trace_prefix, trace)}
        session = self._session
        assert session is not None
        nbytes = pieces = ends = first = 0
        try:
            async with session.request(
                method,
                url,
                headers=headers,
                data=body,
                allow_redirects=self._follow,
                max_redirects=self._max_redirects,
            ) as resp:
                status = resp.status
                async for chunk, end in body_pieces(resp.content):
                    if chunk:
                        if not first:
                            first = self.clock.monotonic_ns()
                        nbytes += len(chunk)
                        pieces += 1
                    ends += end
        except asyncio.CancelledError:
            raise
        except aiohttp.TooManyRedirects as exc:  # the limit is reached: the last 3xx answers
            return exc.history[-1].status, None, 0, started_ns, 0, None
        except Exception as exc:
            return 0, error_kind(exc), 0, started_ns, 0, None
        return status, status_error(status), nbytes, started_ns, first, ends or pieces

    def _task_done(self, ctx: Any, task: asyncio.Task) -> None:
        # The one place on_done is called: a task's done callbacks run exactly once,
        # even for a task cancelled before it started.
        self._tasks.pop(task, None)
        if task.cancelled():
            self.on_done(ctx, 0, CUT, 0)
            return
        exc = task.exception()
        if exc is not None:  # not expected: _send catches Exception
            self.on_done(ctx, 0, error_kind(exc), 0)
            return
        self.on_done(ctx, *task.result())  # status, error, nbytes, started, first body byte, chunks


async def body_pieces(content: aiohttp.StreamReader) -> AsyncIterator[tuple[bytes, bool]]:
    """The body as it arrives: ``(piece, an HTTP/1.1 chunk ends here)``. (aiohttp's own
    ``iter_chunks`` never ends on the empty body of a HEAD response.)"""
    while True:
        chunk, end = await content.readchunk()
        if not chunk and (not end or content.at_eof()):
            return
        yield chunk, end


def _headers(auto: dict[str, str], headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """``auto`` headers unless the request sets them (any case), then the request's."""
    own = {name.lower() for name, _ in headers}
    return {**{k: v for k, v in auto.items() if k.lower() not in own}, **dict(headers)}
