"""A flow whose steps mix HTTP/1.1 and HTTP/2: each step goes to the client of its
version (``Rendered.version``); a user's session holds one session of each client.
When the HTTP/1.1 client is the core's (:class:`~loadray.engine.fast_client.FastFlowClient`)
both share one cookie jar; with aiohttp each protocol keeps its own."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from loadray.engine.flow_client import Reply, SessionClient
from loadray.engine.step_request import StepRequest
from loadray.flow.render import Rendered

__all__ = ["SplitSession", "VersionedClient"]


class SplitSession:
    __slots__ = ("h1", "h2")

    def __init__(self, h1: Any, h2: Any) -> None:
        self.h1, self.h2 = h1, h2

    async def close(self) -> None:
        await self.h1.close()
        if self.h2 is not self.h1:
            await self.h2.close()


class VersionedClient:
    def __init__(self, h1: SessionClient, h2: SessionClient, shared_jar: bool) -> None:
        self.h1, self.h2 = h1, h2
        self._shared = shared_jar

    async def open(self) -> None:
        await self.h1.open()
        await self.h2.open()

    def session(self) -> SplitSession:
        h1 = self.h1.session()
        return SplitSession(h1, h1 if self._shared else self.h2.session())

    def send(self, session: SplitSession, out: Rendered | StepRequest, keep: int | None) -> Awaitable[Reply]:
        if out.version == 2:
            return self.h2.send(session.h2, out, keep)
        return self.h1.send(session.h1, out, keep)

    async def close(self) -> None:
        await self.h1.close()
        await self.h2.close()
