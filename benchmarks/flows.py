"""Flow-path benchmark: what a multi-step flow costs the generator, per request.

One worker (in this process, no Ray) runs open-model flows of three steps at fixed
flow rates against nginx (or the built-in target), pinned to core 1 while the worker
runs on core 0, and prints requests/s, rate error and generator CPU-us per request
(this process's user + sys CPU / requests). Side by side: the same requests as plain
static one-step requests (the fast path), the flow path with templating, extraction
and checks turned on, and the flow path on the aiohttp client (``transport: aiohttp``)
for comparison. The ``loadray`` measured is the one of this checkout.

    python benchmarks/flows.py [--duration 5] [--rates 300,1000] [--repeat 3] [--cases 1,2] [--floor]
                               [--server nginx|spin]

``--floor`` adds, interleaved with the cases, the same traffic from a bare uvloop +
httptools client in the two shapes (``flow_floor.py``: three requests per timer tick, and
chains of three): what the kernel's wake-ups cost each shape, with no loadray at all.
``--server spin`` sends to ``spin_target.py`` instead of nginx: a target that never sleeps,
so no write of the generator's has to wake it (what a target across a network never costs
the generator): the flow path's own cost beside the fast path's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import sys
import time
from collections import Counter

import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's loadray
from loadray.engine.worker import LoadWorker, WorkerSpec
from loadray.scenario import parse_scenario
from loadray.target.server import new_event_loop

try:
    from flow_floor import run_shape
    from servers import fast_server, spin_server
except ImportError:  # run as a module from the repo root
    from benchmarks.flow_floor import run_shape
    from benchmarks.servers import fast_server, spin_server

PLAIN = [{"name": "a", "path": "/"}, {"name": "b", "path": "/b"}, {"name": "c", "path": "/c"}]
DYNAMIC = [
    {"name": "a", "path": "/", "query": {"id": "{{ uuid }}"}, "check": {"status": [200]},
     "extract": [{"name": "len", "source": "header", "expr": "Content-Length"}]},
    {"name": "b", "path": "/b", "headers": {"X-Len": "{{ len }}"}, "check": {"status": [200]}},
    {"name": "c", "path": "/c", "query": {"n": "{{ random_int(1, 9) }}"}},
]
FAST = "fast path, 3 requests"
FLOOR = {"burst": "bare client, 3 per tick", "chain": "bare client, chains of 3"}  # flow_floor.py's shapes
CASES = {
    FAST: lambda r: {"requests": PLAIN, "load": {"phases": [{"duration": "D", "rate": 3 * r}]}},
    "flow path, 3 static steps": lambda r: {"flows": [{"name": "f", "steps": PLAIN}],
                                           "load": {"phases": [{"duration": "D", "rate": r}]}},
    "flow path, templates+checks": lambda r: {"flows": [{"name": "f", "steps": DYNAMIC}],
                                             "load": {"phases": [{"duration": "D", "rate": r}]}},
    "flow path, aiohttp, static": lambda r: {"flows": [{"name": "f", "steps": PLAIN}], "transport": "aiohttp",
                                            "load": {"phases": [{"duration": "D", "rate": r}]}},
    "flow path, aiohttp, templates": lambda r: {"flows": [{"name": "f", "steps": DYNAMIC}], "transport": "aiohttp",
                                               "load": {"phases": [{"duration": "D", "rate": r}]}},
}


def run_on_uvloop(coro):
    """Run as a worker actor does: Ray installs uvloop in its workers."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coro)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def one_run(url: str, doc: dict, duration: float) -> tuple[int, float, Counter]:
    doc["load"]["phases"][0]["duration"] = f"{duration}s"
    worker = LoadWorker(WorkerSpec(0, 1, parse_scenario({"target": url, "workers": 1, **doc})))
    await worker.prepare()
    start = time.time_ns() + 200_000_000
    await asyncio.sleep(0.2)
    gc.collect()  # so that no full collection owed to what came before lands in this run's CPU time
    cpu0 = cpu_s()
    await worker.run(start)
    cpu = cpu_s() - cpu0
    rows = pa.Table.from_batches(worker.drain().batches)
    errors = Counter(kind for kind in rows.column("error").to_pylist() if kind is not None)  # None: a success
    return rows.num_rows, cpu, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rates", default="300,1000", help="flows/s (the fast path sends 3x as many requests)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every case, interleaved; the median is shown")
    parser.add_argument("--cases", default="", help="comma list of case numbers (1-based) to run; default all")
    parser.add_argument("--floor", action="store_true", help="also the bare client's burst and chain (flow_floor.py)")
    parser.add_argument("--server", choices=("nginx", "spin"), default="nginx",
                        help="spin: spin_target.py, a target that never sleeps (no wake-up charged to the generator)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    chosen = [int(c) - 1 for c in args.cases.split(",") if c] or range(len(CASES))
    cases = [list(CASES.items())[i] for i in chosen]
    print(f"{'case':30} {'flows/s':>8} {'req/s':>8} {'rows':>7} {'errors':>6} {'CPU-us/req':>11}  runs")
    print(f"{'':30} (req/s and rows: the first run; errors: every run's; CPU-us/req: the median, then each run)")
    with (spin_server if args.server == "spin" else fast_server)(cpu=1) as (url, name):
        for rate in (int(r) for r in args.rates.split(",")):
            runs: dict[str, list[tuple[int, float, Counter]]] = {case: [] for case, _ in cases}
            for _ in range(args.repeat):  # interleaved, so a noisy moment hits every case alike
                for case, build in cases:
                    runs[case].append(run_on_uvloop(one_run(url, build(rate), args.duration)))
                for shape in FLOOR if args.floor else ():
                    n, cpu, _ = run_on_uvloop(run_shape(url, shape, rate, args.duration))
                    runs.setdefault(FLOOR[shape], []).append((n, cpu, Counter()))
            medians = {}
            for case, results in runs.items():
                per = sorted(cpu / rows * 1e6 for rows, cpu, _ in results)
                medians[case] = median = per[len(per) // 2]
                rows = results[0][0]
                errors = sum((run[2] for run in results), Counter())  # over every run
                shown = " ".join(f"{p:.1f}" for p in per) if len(per) > 1 else ""
                print(f"{case:30} {rate:8d} {rows / args.duration:8.0f} {rows:7d} {errors.total():6d} {median:11.1f}  {shown}")
                if errors:
                    print(f"{'':30} errors over {len(results)} runs: {dict(errors)}")
            fast = medians.get(FAST)
            for case, median in medians.items():
                if fast and case != FAST and case not in FLOOR.values():
                    print(f"{'  ' + case + ' / fast path':52} {median / fast:.2f}x")
            if args.floor:
                print(f"{'  bare client, chain / burst':52} {medians[FLOOR['chain']] / medians[FLOOR['burst']]:.2f}x")
    print(f"server: {name} on core 1; generator on core 0 (this process, no Ray, uvloop)")


if __name__ == "__main__":
    main()
