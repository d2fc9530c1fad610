"""The weighted request mix of the open model, deterministic per seed.

Arrival ``k`` (the global schedule index) runs flow ``wheel[k % len(wheel)]``. The
wheel holds each flow in proportion to its weight, in an order shuffled by the seed,
so the cluster-wide mix is exact over every full turn whatever the number of workers.
Whole-number weights give the shortest exact wheel (3:1 -> 4 slots); others are
rounded (largest remainder) over :data:`WHEEL_SIZE` slots. Equal weights give the
plain round-robin ``0, 1, ..., n-1`` (no shuffle), as before weights existed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

WHEEL_SIZE = 1000
MAX_EXACT = 100_000  # longest exact wheel for whole-number weights


def mix_wheel(weights: Sequence[float], seed: int = 0, size: int = WHEEL_SIZE) -> tuple[int, ...]:
    if not weights or any(w <= 0 or not math.isfinite(w) for w in weights):
        raise ValueError(f"weights must be finite and > 0, got {list(weights)}")
    if len(set(weights)) == 1:
        return tuple(range(len(weights)))
    if all(float(w).is_integer() for w in weights):
        whole = [int(w) for w in weights]
        turn = sum(whole) // math.gcd(*whole)
        if turn <= MAX_EXACT:
            size = turn
    size = max(size, len(weights))
    total = sum(weights)
    exact = [w * size / total for w in weights]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: size - sum(counts)]:
        counts[i] += 1
    wheel = [i for i, n in enumerate(counts) for _ in range(n)]
    random.Random(seed).shuffle(wheel)
    return tuple(wheel)
