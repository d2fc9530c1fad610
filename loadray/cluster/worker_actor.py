"""The worker actor: a thin Ray-facing shell around :class:`LoadWorker`.

It stays a plain class; the coordinator applies ``ray.remote`` with options from the
scenario when it creates the workers. Renewals and heartbeats go to the coordinator,
each bounded by a timeout (a partition hangs a call; it does not fail it); the
worker's lease decides when it must stop sending.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace

import ray

from loadray.counters import Counters
from loadray.engine.archiver import writes_directly
from loadray.engine.clock import ShiftedClock
from loadray.engine.lease import NODE_GONE
from loadray.engine.worker import Drained, LoadWorker, Renewal, WorkerReady, WorkerSpec
from loadray.live.status import WorkerSecond
from loadray.plan.revision import Assignment

HEARTBEAT_TIMEOUT_S = 2.0


class WorkerActor:
    def __init__(self, spec: WorkerSpec, coordinator=None) -> None:
        self.coordinator = coordinator
        self.spec = spec
        self.renew_timeout_s = spec.scenario.cluster.lease_s / 2
        self._raylet = os.getppid()  # Ray starts workers from the node's raylet
        self.worker: LoadWorker  # made by prepare(), once the host's clock offset is known

    def wall_ns(self) -> int:
        """This host's wall clock, for the coordinator's offset estimate."""
        return time.time_ns()

    def _new_worker(self, clock_offset_ns: int) -> LoadWorker:
        spec, with_coordinator = self.spec, self.coordinator is not None
        direct = writes_directly(spec.archive, ray.get_runtime_context().get_node_id())
        return LoadWorker(
            spec,
            clock=ShiftedClock(clock_offset_ns) if clock_offset_ns else None,
            reporter=self._report if with_coordinator else None,
            renewer=self._renew if with_coordinator else None,
            archive=spec.archive.location if direct and spec.archive is not None else None,
        )

    async def _report(self, second: WorkerSecond) -> None:
        await asyncio.wait_for(self.coordinator.heartbeat.remote(second), HEARTBEAT_TIMEOUT_S)

    async def _renew(self, lapsed: bool) -> Renewal | None:
        if os.getppid() != self._raylet:  # orphaned: its node died under it
            self.worker.fence(NODE_GONE)
            lapsed = True
        call = self.coordinator.renew.remote(self.spec.index, self.spec.incarnation, lapsed)
        try:
            return await asyncio.wait_for(call, self.renew_timeout_s)
        except Exception:  # no answer in time, or the coordinator is gone
            return None

    async def prepare(self, clock_offset_ns: int = 0) -> WorkerReady:
        """Make the worker, its wall clock read as the driver's (``clock_offset_ns``: this
        host's clock minus the driver's), and open its connections."""
        self.worker = self._new_worker(clock_offset_ns)
        ready = await self.worker.prepare()
        context = ray.get_runtime_context()
        return replace(ready, node=context.get_node_id(), address=ray.util.get_node_ip_address())

    async def run(self, start_epoch_ns: int, assignment: Assignment | None = None,
                  granted_epoch_ns: int | None = None) -> Counters:
        return await self.worker.run(start_epoch_ns, assignment, granted_epoch_ns)

    async def revise(self, assignment: Assignment) -> None:
        self.worker.revise(assignment)

    async def drain(self, acked: int | None = None, wait_s: float = 0.0) -> Drained:
        if acked is None or wait_s <= 0:
            return self.worker.drain(acked)
        return await self.worker.wait_and_drain(acked, wait_s)

    async def stop(self) -> None:
        self.worker.stop()
