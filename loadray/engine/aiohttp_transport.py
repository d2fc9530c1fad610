"""The fallback transport: one shared aiohttp ClientSession, one task per request.

It sends what the fast transport does not (https, HEAD, several hosts) at roughly
15x the CPU per request (DESIGN §4), so it is the fallback, never the default for
plain http. Redirects are not followed and bodies are not decompressed, so status
codes and byte counts match the fast transport's.
"""

from __future__ import annotations

import asyncio
import time
import functools
import ssl
from typing import Any

import aiohttp
from yarl import URL

from loadray.engine.errors import CUT, error_kind, status_error
from loadray.engine.transport import (
    DoneCallback,
    PreparedRequest,
    Transport,
    TransportSettings,
)

__all__ = ["AiohttpTransport"]

USER_AGENT = "loadray"
_READ_CHUNK = 1 << 16


def _ssl_setting(settings: TransportSettings) -> ssl.SSLContext | bool:
    verify = getattr(settings, "verify", True)
    ca_file = getattr(settings, "ca_file", None)
    if not verify:
        return False
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return True  # aiohttp's default verifying context


class AiohttpTransport(Transport):
    """Same contract as :class:`~loadray.engine.fast.FastTransport`, on aiohttp."""

    def __init__(
        self,
        requests: list[PreparedRequest],
        settings: TransportSettings,
        on_done: DoneCallback,
    ) -> None:
        super().__init__(requests, settings, on_done)
        self._prepared = [
            (
                r.method.upper(),
                URL(r.url),
                {"User-Agent": USER_AGENT, **dict(r.headers)},
                r.body,
            )
            for r in requests
        ]
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
        connector = aiohttp.TCPConnector(
            limit=max(1, int(s.max_connections)),
            limit_per_host=0,
            force_close=not s.keepalive,
            ssl=_ssl_setting(s),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=s.timeout_s, sock_connect=s.connect_timeout_s),
            auto_decompress=False,
            skip_auto_headers=("Accept-Encoding",),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    def submit(self, index: int, ctx: Any) -> None:
        loop = self._loop or asyncio.get_running_loop()
        if self._closed or self._session is None:
            loop.call_soon(self.on_done, ctx, 0, CUT, 0)
            return
        task = loop.create_task(self._send(index))
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

    async def _send(self, index: int) -> tuple[int, str | None, int, int]:
        started_ns = time.monotonic_ns()  # the task runs now, not when it was submitted
        method, url, headers, body = self._prepared[index]
        session = self._session
        assert session is not None
        nbytes = 0
        try:
            async with session.request(
                method, url, headers=headers, data=body, allow_redirects=False
            ) as resp:
                status = resp.status
                content = resp.content
                while True:
                    chunk = await content.read(_READ_CHUNK)
                    if not chunk:
                        break
                    nbytes += len(chunk)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return 0, error_kind(exc), 0, started_ns
        return status, status_error(status), nbytes, started_ns

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
        status, error, nbytes, started_ns = task.result()
        self.on_done(ctx, status, error, nbytes, started_ns)
