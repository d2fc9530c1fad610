"""The driver's side of a run: start the coordinator (which starts the workers), pass
it commands, read its status, and collect the workers' rows.

Rows travel from each worker to the driver through Ray's object store; the
coordinator only carries control and statistics.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Sequence

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from loadray.cluster.coordinator import Coordinator, RunRecord
from loadray.cluster.runtime import cluster_cpus
from loadray.engine.worker import Drained, WorkerReady
from loadray.errors import ClusterError
from loadray.live.status import LiveStatus
from loadray.scenario.model import Scenario

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 2.0
CALL_TIMEOUT_S = 10.0


class Launcher:
    def __init__(self, scenario: Scenario, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        self.scenario = scenario
        self.worker_cpus = scenario.cluster.worker_cpus
        self.ready_timeout_s = ready_timeout_s
        self.coordinator = None
        self.rows_by_worker: Counter[int] = Counter()

    def start(self) -> list[WorkerReady]:
        """Start the coordinator and every worker, pre-warmed; all or nothing."""
        n = self.scenario.workers
        need, have = self.worker_cpus * n, cluster_cpus()
        if need > have:
            raise ClusterError(
                f"workers: {n} workers x cluster.worker_cpus {self.worker_cpus:g} "
                f"need {need:g} CPUs, the Ray cluster has {have:g}"
            )
        # on the driver's own node: losing a generator node must not take the coordinator
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.coordinator = ray.remote(Coordinator).options(
            num_cpus=0, max_concurrency=1000, scheduling_strategy=here
        ).remote(self.scenario, self.worker_cpus)
        ready, error = ray.get(self.coordinator.prepare.remote(self.ready_timeout_s))
        if error:
            self.kill()
            raise ClusterError(error)
        return ready

    def begin(self) -> int:
        return ray.get(self.coordinator.begin.remote(), timeout=CALL_TIMEOUT_S)

    def status(self) -> LiveStatus:
        return ray.get(self.coordinator.status.remote(), timeout=CALL_TIMEOUT_S)

    def finished(self) -> bool:
        return self.status().state == "finished"

    def wait(self, timeout_s: float) -> bool:
        """Poll until the run has finished or ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        while not self.finished():
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.1, timeout_s))
        return True

    def drain(self) -> list[Drained]:
        """Rows flushed since the last drain, from every live worker (a dead one is skipped)."""
        handles = ray.get(self.coordinator.workers.remote(), timeout=CALL_TIMEOUT_S)
        refs = [(i, h.drain.remote()) for i, h in handles]
        out = []
        for _, ref in refs:
            try:
                drained = ray.get(ref, timeout=CALL_TIMEOUT_S)
            except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError):
                continue
            self.rows_by_worker[drained.index] += drained.rows
            out.append(drained)
        return out

    def control(self, command: str, rate: float | None = None) -> str:
        return ray.get(self.coordinator.control.remote(command, rate), timeout=CALL_TIMEOUT_S)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        ray.get(self.coordinator.stop.remote(), timeout=CALL_TIMEOUT_S)
        return self.wait(timeout_s)

    def record(self) -> RunRecord:
        return ray.get(self.coordinator.record.remote(), timeout=CALL_TIMEOUT_S)

    def lost(self, record: RunRecord) -> int:
        """Requests dead workers were meant to send and never did (no row reached us)."""
        return sum(max(0, record.planned[i] - self.rows_by_worker[i]) for i in set(record.dead))

    def kill(self) -> None:
        if self.coordinator is not None:
            try:
                ray.get(self.coordinator.kill_all.remote(), timeout=CALL_TIMEOUT_S)
            except ray.exceptions.RayError:
                pass
            ray.kill(self.coordinator, no_restart=True)
            self.coordinator = None


