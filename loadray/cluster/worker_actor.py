"""The worker actor: a thin Ray-facing shell around :class:`LoadWorker`.

It stays a plain class; the coordinator applies ``ray.remote`` with options from the
scenario when it creates the workers. Heartbeats go to the coordinator; if it cannot
be reached the worker stops by itself.
"""

from __future__ import annotations

from dataclasses import replace

import ray

from loadray.engine.open_loop import Counters
from loadray.engine.worker import Drained, LoadWorker, WorkerReady, WorkerSpec
from loadray.live.status import WorkerSecond
from loadray.plan.revision import Assignment


class WorkerActor:
    def __init__(self, spec: WorkerSpec, coordinator=None) -> None:
        self.coordinator = coordinator
        self.worker = LoadWorker(spec, reporter=self._report if coordinator is not None else None)

    async def _report(self, second: WorkerSecond) -> None:
        await self.coordinator.heartbeat.remote(second)

    async def prepare(self) -> WorkerReady:
        ready = await self.worker.prepare()
        return replace(ready, node=ray.get_runtime_context().get_node_id())

    async def run(self, start_epoch_ns: int, assignment: Assignment | None = None) -> Counters:
        return await self.worker.run(start_epoch_ns, assignment)

    async def revise(self, assignment: Assignment) -> None:
        self.worker.revise(assignment)

    async def drain(self) -> Drained:
        return self.worker.drain()

    async def stop(self) -> None:
        self.worker.stop()
