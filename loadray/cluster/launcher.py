"""Starting the worker actors, the start barrier, and collecting their rows.

A simple barrier for now: every actor pre-warms and reports ready, then the driver
fixes one absolute start instant (wall clock) that all of them wait for. The seam for
a coordinator actor is :class:`Launcher`: the driver only calls its methods.
"""

from __future__ import annotations

import time
from typing import Sequence

import ray

from loadray.cluster.runtime import cluster_cpus
from loadray.cluster.worker_actor import WorkerActor
from loadray.engine.worker import Drained, WorkerReady, WorkerSpec
from loadray.errors import ClusterError

READY_TIMEOUT_S = 60.0
START_MARGIN_S = 0.5  # between the last ready report and the common start instant
STOP_TIMEOUT_S = 2.0


class Launcher:
    def __init__(self, specs: Sequence[WorkerSpec], worker_cpus: float) -> None:
        self.specs = list(specs)
        self.worker_cpus = worker_cpus
        self.actors: list = []
        self.runs: list = []

    def start(self, ready_timeout_s: float = READY_TIMEOUT_S) -> list[WorkerReady]:
        """Create every actor and wait until each has pre-warmed; all or nothing."""
        need = self.worker_cpus * len(self.specs)
        have = cluster_cpus()
        if need > have:
            raise ClusterError(
                f"workers: {len(self.specs)} workers x cluster.worker_cpus {self.worker_cpus:g} "
                f"need {need:g} CPUs, the Ray cluster has {have:g}"
            )
        actor_class = ray.remote(WorkerActor).options(
            num_cpus=self.worker_cpus, scheduling_strategy="SPREAD", max_concurrency=16
        )
        self.actors = [actor_class.remote(spec) for spec in self.specs]
        try:
            return ray.get([a.prepare.remote() for a in self.actors], timeout=ready_timeout_s)
        except ray.exceptions.GetTimeoutError as exc:
            self.kill()
            raise ClusterError(
                f"workers: not every one of {len(self.specs)} workers was placed and ready "
                f"within {ready_timeout_s:g}s; refusing to run with fewer"
            ) from exc
        except ray.exceptions.RayError as exc:
            self.kill()
            raise ClusterError(f"workers: a worker failed to start: {_first_line(exc)}") from exc

    def begin(self, margin_s: float = START_MARGIN_S) -> int:
        """Fix the common start instant (epoch ns) and set every worker going."""
        start_ns = time.time_ns() + int(margin_s * 1e9)
        self.runs = [a.run.remote(start_ns) for a in self.actors]
        return start_ns

    def finished(self) -> bool:
        ready, _ = ray.wait(self.runs, num_returns=len(self.runs), timeout=0)
        return len(ready) == len(self.runs)

    def wait(self, timeout_s: float) -> bool:
        ready, _ = ray.wait(self.runs, num_returns=len(self.runs), timeout=timeout_s)
        return len(ready) == len(self.runs)

    def drain(self) -> list[Drained]:
        return ray.get([a.drain.remote() for a in self.actors])

    def failures(self) -> list[str]:
        """One line per worker whose run raised (empty when all is well)."""
        out = []
        for i, ref in enumerate(self.runs):
            try:
                ray.get(ref, timeout=0)
            except ray.exceptions.GetTimeoutError:
                continue
            except ray.exceptions.RayError as exc:
                out.append(f"worker {i}: {_first_line(exc)}")
        return out

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Ask every worker to stop; True when all runs ended within the timeout."""
        ray.get([a.stop.remote() for a in self.actors], timeout=timeout_s)
        return self.wait(timeout_s)

    def kill(self) -> None:
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
