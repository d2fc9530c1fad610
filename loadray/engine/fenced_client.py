"""A flow client that sends only while the worker's lease holds."""

from __future__ import annotations

from collections.abc import Callable
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

    async def send(self, session: Any, out: Rendered | StepRequest, keep: int | None) -> Reply:
        now = self._now()
        if not self.lease.holds(now):
            return Reply(0, FENCED, NOT_SENT, now)
        return await self.client.send(session, out, keep)
