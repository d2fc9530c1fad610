"""Splitting the cluster-wide schedule across workers.

Worker ``w`` of ``W`` takes every request ``k`` with ``k % W == w``, so the union of
the workers' schedules is exactly the global evenly spaced schedule: worker sends
interleave instead of all firing together at each tick.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from loadray.plan.profile import Profile

DEFAULT_CHUNK = 4096


@dataclass(frozen=True)
class Chunk:
    """Consecutive requests of one worker inside one phase.

    ``ks``: global request numbers; ``offsets_ns``: intended times since the start.
    """

    phase: int
    ks: list[int]
    offsets_ns: list[int]


def worker_share(total: int, worker: int, workers: int) -> int:
    """How many of ``total`` requests (k = 0..total-1) worker ``worker`` owns."""
    if worker >= total:
        return 0
    return (total - 1 - worker) // workers + 1


def worker_chunks(
    profile: Profile, worker: int, workers: int, chunk: int = DEFAULT_CHUNK, from_s: float = 0.0
) -> Iterator[Chunk]:
    """The intended schedule of one worker, phase by phase, in chunks; only the requests
    intended at or after ``from_s`` (a plan revision takes over from there)."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} out of range for {workers} workers")
    total = profile.intended
    from_k = first_k_at(profile, from_s)
    for seg in profile.segments:
        first = _first_owned(max(from_k, math.ceil(seg.start_count - 1e-9)), worker, workers)
        last = min(total, math.ceil(seg.end_count - 1e-9))  # exclusive
        for lo in range(first, last, chunk * workers):
            ks = np.arange(lo, min(last, lo + chunk * workers), workers)
            offsets = np.rint(seg.times_of(ks) * 1e9).astype(np.int64)
            yield Chunk(seg.index, ks.tolist(), offsets.tolist())


def first_k_at(profile: Profile, t: float) -> int:
    """The first request intended at or after ``t``."""
    return math.ceil(profile.count(t) - 1e-9) if t > 0 else 0


def owned_between(lo: int, hi: int, worker: int, workers: int) -> int:
    """How many k in [lo, hi) worker ``worker`` of ``workers`` owns."""
    if hi <= lo:
        return 0
    first = _first_owned(lo, worker, workers)
    return 0 if first >= hi else (hi - 1 - first) // workers + 1


def _first_owned(k: int, worker: int, workers: int) -> int:
    """Smallest k' >= k with k' % workers == worker."""
    return k + (worker - k) % workers
