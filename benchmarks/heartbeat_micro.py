"""CPU per row of a worker's heartbeat (:func:`loadray.live.heartbeat.worker_second`),
folded once a second from the rows it just flushed, with live figures kept for 0, 1 or 2
steps (what a live rule scoped to a step costs: nothing per request, this per row
flushed).

    python benchmarks/heartbeat_micro.py [--rows 20000] [--steps 4]

The batch: ``--rows`` rows spread over ``--steps`` step names, 2% errors, 1% dropped.
Prints ns of CPU per row, best of 5, for each number of live steps (on a commit without
per-step figures only the first line is measured).
"""

from __future__ import annotations

import argparse
import inspect
import random
import time

from loadray.counters import Counters
from loadray.live.heartbeat import worker_second
from loadray.schema import from_rows

CALLS = 20


def batch(rows: int, steps: int):
    rng = random.Random(1)
    out = []
    for i in range(rows):
        pick = rng.random()
        error = "dropped" if pick < 0.01 else ("http_5xx" if pick < 0.03 else None)
        sent = None if error == "dropped" else i * 1000
        latency = None if sent is None else int(rng.lognormvariate(16.8, 0.5))
        out.append({"intended_ns": i * 1000, "sent_ns": sent, "latency_ns": latency,
                    "service_ns": None if latency is None else latency - 1000,
                    "status": 0 if error == "dropped" else (503 if error else 200), "error": error,
                    "step": f"s{i % steps}", "phase": 0, "worker": 0, "bytes_in": 2, "attempt": 1})
    return from_rows(out).combine_chunks().to_batches()[0]


def ns_per_row(b, steps: tuple[str, ...]) -> float:
    kwargs = {"steps": steps} if steps else {}
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time_ns()
        for _ in range(CALLS):
            worker_second(0, b, Counters(), Counters(), 0, **kwargs)
        best = min(best, (time.process_time_ns() - t0) / CALLS / b.num_rows)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    b = batch(args.rows, args.steps)
    per_step = "steps" in inspect.signature(worker_second).parameters
    for live in [(), ("s1",), ("s1", "s2")] if per_step else [()]:
        print(f"heartbeat, {args.rows} rows over {args.steps} steps, {len(live)} live steps: "
              f"{ns_per_row(b, live):.1f} ns CPU per row")


if __name__ == "__main__":
    main()
