"""gRPC unary benchmark: generator CPU-us per call, loadray vs a plain grpcio loop.

The built-in gRPC target (``loadray target --grpc-port``, no latency) runs in its own
process pinned to core 1; the generators run in this process on core 0, one after the
other at the same rates, interleaved when repeated, and print calls/s, errors and
CPU-us per call (this process's user + sys CPU, grpcio's threads included, / calls):

- ``grpcio asyncio loop``: the reference. An open loop on grpcio's asyncio API: one
  channel, a task per call started at its absolute send time, nothing recorded.
  (``ghz``, the usual Go gRPC benchmark, cannot be installed here: it is in none of
  the registries this machine reaches.)
- ``loadray unary``: one worker (no Ray) running an open-model scenario of one
  literal unary call: a row per call, pacing, lease, flush, as in a run.
- ``loadray unary, checks+extract``: the same with a status and a JSON check and a
  JSON extraction (the reply decoded to JSON).

    python benchmarks/grpc_bench.py [--duration 5] [--rates 1000,2000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time

import psutil
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's loadray
from loadray.engine.worker import LoadWorker, WorkerSpec
from loadray.scenario import parse_scenario
from loadray.target import TargetOptions, start_target
from loadray.target.grpc_server import PROTO, SERVICE, _types
from loadray.target.server import new_event_loop

CALL = {"proto": str(PROTO), "service": SERVICE, "method": "Unary", "message": {"text": "hello"}}
CHECKED = {"grpc": CALL, "check": {"status": "OK", "json": {"expr": "text", "equals": "hello"}},
           "extract": [{"name": "cid", "source": "json", "expr": "id"}]}


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def plain_loop(address: str, rate: int, duration: float) -> tuple[int, float, int, float]:
    """The reference: grpcio's asyncio API, a task per call at its absolute send time."""
    import grpc

    t = _types()
    async with grpc.aio.insecure_channel(address) as channel:
        unary = channel.unary_unary(f"/{SERVICE}/Unary", t["Request"].SerializeToString, t["Reply"].FromString)
        request = t["Request"](text="hello")
        await unary(request)  # connected before the clock starts
        ok = 0
        took: list[float] = []

        async def one() -> None:
            nonlocal ok
            sent = time.perf_counter()  # loop.time() is in whole ms on uvloop
            try:
                await unary(request, timeout=10)
                ok += 1
                took.append(time.perf_counter() - sent)
            except grpc.aio.AioRpcError:
                pass

        n = int(rate * duration)
        loop = asyncio.get_running_loop()
        cpu0, start = cpu_s(), loop.time() + 0.05
        tasks = []
        for i in range(n):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(one()))
        await asyncio.gather(*tasks)
        return n, cpu_s() - cpu0, ok, sorted(took)[len(took) // 2] * 1e3 if took else float("nan")


async def loadray_worker(address: str, rate: int, duration: float, step: dict) -> tuple[int, float, int, float]:
    doc = {"target": f"http://{address}", "workers": 1, "requests": [{"name": "u", **step}],
           "load": {"phases": [{"duration": f"{duration}s", "rate": rate}]}}
    worker = LoadWorker(WorkerSpec(0, 1, parse_scenario(doc)))
    await worker.prepare()
    start = time.time_ns() + 200_000_000
    await asyncio.sleep(0.2)
    cpu0 = cpu_s()
    await worker.run(start)
    cpu = cpu_s() - cpu0
    rows = pa.Table.from_batches(worker.drain().batches)
    service = pc.approximate_median(rows.column("service_ns")).as_py() or float("nan")
    return rows.num_rows, cpu, rows.column("error").null_count, service / 1e6


CASES = {
    "grpcio asyncio loop (reference)": lambda a, r, d: plain_loop(a, r, d),
    "loadray unary": lambda a, r, d: loadray_worker(a, r, d, {"grpc": CALL}),
    "loadray unary, checks+extract": lambda a, r, d: loadray_worker(a, r, d, CHECKED),
}
REFERENCE = "grpcio asyncio loop (reference)"


async def measure(address: str, server: int, rates: list[int], duration: float, repeat: int) -> dict:
    """Every case at every rate, in one event loop (as in a worker actor: grpcio's
    asyncio machinery stays bound to the first loop that used it)."""
    runs: dict = {}
    for rate in rates:
        runs[rate] = {case: [] for case in CASES}
        for _ in range(repeat):  # interleaved: a noisy moment hits every case alike
            for case, make in CASES.items():
                server0 = sum(psutil.Process(server).cpu_times()[:2])
                n, cpu, ok, p50 = await make(address, rate, duration)
                served = sum(psutil.Process(server).cpu_times()[:2]) - server0
                runs[rate][case].append((n, cpu, ok, p50, served / n * 1e6))
    return runs


def pin(pid: int, core: int) -> None:
    """Every thread of ``pid`` on ``core`` (grpcio's threads too)."""
    for thread in psutil.Process(pid).threads():
        try:
            os.sched_setaffinity(thread.id, {core})
        except OSError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rates", default="1000,2000", help="calls/s (the built-in target, one core, saturates near 3000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every case, interleaved; the median is shown")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    print(f"{'case':34} {'calls/s':>8} {'rows':>7} {'errors':>6} {'p50 ms':>7} {'CPU-us/call':>12} {'x ref':>6} "
          f"{'target us':>9}  runs")
    with start_target(TargetOptions(grpc_port=0)) as target:
        pin(target.pid, 1)
        address = target.grpc_address
        assert address is not None
        rates = [int(r) for r in args.rates.split(",")]
        with asyncio.Runner(loop_factory=new_event_loop) as runner:  # uvloop, as Ray's workers
            measured = runner.run(measure(address, target.pid, rates, args.duration, args.repeat))
        for rate in rates:
            runs = measured[rate]
            medians = {case: sorted(r[1] / r[0] * 1e6 for r in rs)[len(rs) // 2] for case, rs in runs.items()}
            for case, results in runs.items():
                n, _, ok, p50, served = results[0]
                per = " ".join(f"{r[1] / r[0] * 1e6:.1f}" for r in results) if len(results) > 1 else ""
                ratio = medians[case] / medians[REFERENCE]
                print(f"{case:34} {n / args.duration:8.0f} {n:7d} {n - ok:6d} {p50:7.2f} {medians[case]:12.1f} "
                      f"{ratio:6.2f} {served:9.1f}  {per}")
    print("target: the built-in gRPC target on core 1 ('target us': its CPU-us per call); generators on core 0 "
          "(this process, no Ray, uvloop); p50: service time of the first run")


if __name__ == "__main__":
    main()
