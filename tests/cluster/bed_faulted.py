"""A fault test's run: the bed's 300 req/s scenario from the head host with faults applied
at set times after the first arrival, then the checks of :mod:`bed_checks` over what it left."""

from __future__ import annotations

import time

from bed_checks import Checks
from bed_runs import at_times, finish, scenario, start_run, wait_first_arrival, workers_on
from testbed import TestBed

RATE, DURATION_S, SHARE = 300, 14, 100
FAULT_AT, HEAL_AT = 4.0, 8.0
AFTER_S = 3.0  # how long we watch for stragglers after the run


def faulted(bed: TestBed, tmp_path, policy: str, *steps, heal_after: int | None = None, watch: bool = True,
            rate: float = RATE, target: str | None = None, **extra) -> tuple[Checks, set[int]]:
    """Run the 14 s, 300 req/s scenario with ``on_worker_loss: policy`` from the head
    host, applying ``steps`` [(seconds after the first arrival, name, action)]; then heal
    host ``heal_after`` (if given) and watch for stragglers. ``extra``: more scenario keys
    (``http``, ``requests``...); ``target``: another URL of the recorder's (its TLS one).
    Returns the checks and the workers placed on host 3."""
    doc = scenario(target or bed.target_url, rate, DURATION_S, on_worker_loss=policy, **extra)
    run, out = start_run(bed, doc, tmp_path)
    first = wait_first_arrival(bed)
    times = at_times([(offset, action) for offset, _, action in steps], first)
    marks = {"first_arrival": first, **{name: times[offset] for offset, name, _ in steps}}
    result = finish(run, out)
    if heal_after is not None:
        bed.heal(heal_after)
    if watch:
        time.sleep(max(0.0, result.ended_at + AFTER_S - time.time()))
    return Checks(bed, result, marks), workers_on(bed, result, bed.ip(3))


def partition_healed(bed: TestBed, tmp_path, **extra) -> tuple[Checks, set[int]]:
    """Host 3 partitioned from the other Ray hosts at 4 s (the target stays reachable),
    healed at 8 s, ``on_worker_loss: redistribute``."""
    return faulted(bed, tmp_path, "redistribute", (FAULT_AT, "partition", lambda: bed.partition(3)),
                   (HEAL_AT, "heal", lambda: bed.heal(3)), **extra)


def isolation_healed(bed: TestBed, tmp_path, **extra) -> tuple[Checks, set[int]]:
    """Host 3's link down at 4 s (it reaches nothing, the target neither: its connections
    go silent, no RST, no FIN), up again at 8 s, ``on_worker_loss: redistribute``."""
    return faulted(bed, tmp_path, "redistribute", (FAULT_AT, "isolate", lambda: bed.isolate(3)),
                   (HEAL_AT, "heal", lambda: bed.heal(3)), **extra)


def target_cut_healed(bed: TestBed, tmp_path, **extra) -> tuple[Checks, set[int]]:
    """Host 3 cut from the target only at 4 s (Ray whole: its worker keeps its lease),
    healed at 8 s."""
    return faulted(bed, tmp_path, "redistribute", (FAULT_AT, "cut", lambda: bed.cut_target(3)),
                   (HEAL_AT, "heal", lambda: bed.heal(3)), **extra)
