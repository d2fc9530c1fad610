"""The worker actor: a thin Ray-facing shell around :class:`LoadWorker`.

It stays a plain class; :mod:`loadray.cluster.launcher` applies ``ray.remote`` with
options from the scenario at launch time.
"""

from __future__ import annotations

from loadray.engine.open_loop import Counters
from loadray.engine.worker import Drained, LoadWorker, WorkerReady, WorkerSpec


class WorkerActor:
    def __init__(self, spec: WorkerSpec) -> None:
        self.worker = LoadWorker(spec)

    async def prepare(self) -> WorkerReady:
        return await self.worker.prepare()

    async def run(self, start_epoch_ns: int) -> Counters:
        return await self.worker.run(start_epoch_ns)

    async def drain(self) -> Drained:
        return self.worker.drain()

    async def stop(self) -> None:
        self.worker.stop()
