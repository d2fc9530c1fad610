"""A flow client that sends only while the worker's lease holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from loadray.engine.flow_client import Reply, StepClient
from loadray.engine.lease import Lease
from loadray.engine.row_buffer import NOT_SENT
from loadray.engine.step_request import StepRequest
from loadray.flow.render import Rendered
from loadray.kinds import FENCED


class FencedClient:
    """Wraps the flow client the runner sends with: a step due after the lease lapsed
    (or after the run's hard end) becomes a row with error ``fenced``, never sent."""

    def __init__(self, client: StepClient, lease: Lease, now_ns: Callable[[], int]) -> None:
        self.client = client
        self.lease = lease
        self._now = now_ns

    def send(self, session: Any, out: Rendered | StepRequest, keep: int | None) -> Awaitable[Reply]:
        """The client's own awaitable while the lease holds (no coroutine of ours in
        between on every step), else an already decided ``fenced`` reply."""
        now = self._now()
        lease = self.lease
        if now < lease.until_ns or lease.holds(now):  # (holds() fences a lapsed lease)
            return self.client.send(session, out, keep)
        return _decided(Reply(0, FENCED, NOT_SENT, now))


async def _decided(reply: Reply) -> Reply:
    return reply
