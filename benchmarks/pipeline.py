"""Pipeline benchmark: who pays for archiving the rows, and the ceiling that implies.

    python benchmarks/pipeline.py                      # 20k req/s, 20 s per path (~1.5 min)
    python benchmarks/pipeline.py --rate 20000 --duration 30

One worker sends ``--rate`` requests/s to nginx (core 1; else the built-in target) for
``--duration`` s, twice in the same run:

- ``via driver`` (the previous path): the worker hands its row batches to the driver
  through Ray's object store; the driver encodes and writes the Parquet parts;
- ``direct``: the worker writes its own parts (``loadray.engine.archiver``); the driver
  gets one receipt per part (name, rows) and writes the manifest.

The driver loop is the one ``loadray run --quiet`` uses (the status by long poll every
5 s or at once when the state changes, long-polling drain calls, ``SampleSink``). "driver %core" is this process's CPU (every thread, Ray's too)
over the load; "driver µs/row" the same per archived row. "worker µs/row" is the
worker actor process's CPU per row (it also sends the requests). "write µs/row" is the
CPU of :class:`~loadray.archive.part_series.PartSeries` alone (Arrow -> Parquet ->
file, thread time) on the run's own rows: the worker's extra cost for writing.

The ceiling model: on the previous path every row costs the driver ``d`` µs, so one
driver caps the cluster at ``1e6 / d`` rows/s whatever the node count. On the direct
path the driver's cost is per worker (heartbeats, drains, receipts), ``w`` % of a core
per worker: one driver core serves ``100 / w`` workers, each up to its own maximum rate
(``benchmarks/engine.py``: ~60k req/s on one core here).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pyarrow.dataset as ds  # noqa: E402
import ray  # noqa: E402
from servers import fast_server  # noqa: E402

from loadray.archive import SampleSink  # noqa: E402
from loadray.archive.fs import locate  # noqa: E402
from loadray.archive.part_series import PartSeries  # noqa: E402
from loadray.cluster import Launcher, connect  # noqa: E402
from loadray.driver import POLL_INTERVAL_S, STATUS_QUIET_S  # noqa: E402
from loadray.scenario import parse_scenario  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
WORKER_MAX_RATE = 60_000  # one worker on one core, benchmarks/engine.py (DESIGN.md §4)


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def scenario(url: str, rate: float, duration: float, workers: int = 1):
    return parse_scenario({
        "name": "pipeline", "target": url, "workers": workers, "transport": "fast",
        "load": {"model": "open", "phases": [{"duration": duration, "rate": rate}]},
        "http": {"max_in_flight": 64, "when_full": "queue", "timeout": "30s"},
        "requests": [{"name": "root", "method": "GET", "path": "/"}],
        "cluster": {"worker_cpus": 1 / workers},
    })


def idle_driver_pct(seconds: float = 5.0) -> float:
    """This process's CPU with Ray up and nothing to do: Ray's own background threads."""
    c0, t0 = self_cpu_s(), time.monotonic()
    time.sleep(seconds)
    return 100 * (self_cpu_s() - c0) / (time.monotonic() - t0)


def run_path(url: str, direct: bool, rate: float, duration: float, out: Path, workers: int = 1) -> dict:
    """One run on one path: CPU of the driver (this process), the coordinator and the workers."""
    sink: SampleSink | None = None

    def listed(part) -> None:
        assert sink is not None
        sink.add_part(part)

    launcher = Launcher(scenario(url, rate, duration, workers), archive=str(out) if direct else None,
                        on_part=listed)
    pids = [r.pid for r in launcher.start()]
    coordinator = ray.get(launcher.coordinator.__ray_call__.remote(lambda self: os.getpid()))
    for pid in pids if (os.cpu_count() or 1) > 1 else ():
        os.sched_setaffinity(pid, {0})
    start_ns = launcher.begin()
    sink = SampleSink(out / "samples", start_ns)
    driver0, t0 = self_cpu_s(), time.monotonic()
    worker0, coord0 = sum(map(proc_cpu_s, pids)), proc_cpu_s(coordinator)
    while True:  # the cadence of loadray.driver._drive (`loadray run --quiet`)
        status = launcher.poll_status(STATUS_QUIET_S)
        if status is not None:
            sink.tick()
            if status.state == "finished":
                break
        launcher.collect(sink.write, wait_s=POLL_INTERVAL_S)
    launcher.settle(sink.write)
    wall = time.monotonic() - t0
    driver_s, coord_s = self_cpu_s() - driver0, proc_cpu_s(coordinator) - coord0
    worker_s = sum(map(proc_cpu_s, pids)) - worker0
    launcher.kill()
    sink.close(time.time_ns())
    rows = ds.dataset(out / "samples", format="parquet").count_rows()
    name = ("direct" if direct else "via driver") + (f" x{workers}" if workers > 1 else "")
    return {"path": name, "workers": workers, "rows": rows, "wall": wall,
            "driver_pct": 100 * driver_s / wall, "driver_us": 1e6 * driver_s / max(rows, 1),
            "coord_pct": 100 * coord_s / wall,
            "worker_us": 1e6 * worker_s / max(rows, 1), "worker_pct": 100 * worker_s / wall}


def write_cost_us(samples: Path, scratch: Path, batch_rows: int) -> float:
    """CPU-µs per row of PartSeries alone (thread time) writing ``samples``' rows again
    in flush-sized batches (what a worker does once a second)."""
    table = ds.dataset(samples, format="parquet").to_table()
    series = PartSeries(locate(scratch), 0, 0, 0)
    t0 = time.thread_time()
    for i, at in enumerate(range(0, table.num_rows, batch_rows)):
        series.append(table.slice(at, batch_rows), batch_rows, i + 1)
    series.close()
    return 1e6 * (time.thread_time() - t0) / max(table.num_rows, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=20_000)
    ap.add_argument("--duration", type=float, default=20.0)
    args = ap.parse_args()
    connect(None, num_cpus=2)
    idle = idle_driver_pct()
    runs = ((False, 1), (True, 1), (True, 2))
    with fast_server(cpu=1) as (url, server), tempfile.TemporaryDirectory(prefix="loadray-pipeline-") as tmp:
        print(f"server: {server}; {args.rate:,.0f} req/s for {args.duration:g} s per path; "
              f"idle Ray driver: {idle:.2f}% of a core")
        results = [run_path(url, direct, args.rate, args.duration, Path(tmp) / f"run-{i}", workers)
                   for i, (direct, workers) in enumerate(runs)]
        write_us = write_cost_us(Path(tmp) / "run-1" / "samples", Path(tmp) / "rewrite", int(args.rate))
    print(f"\n{'path':<14}{'rows':>10}{'driver %core':>14}{'driver µs/row':>15}{'coord. %core':>14}"
          f"{'workers %core':>15}{'worker µs/row':>15}")
    for r in results:
        print(f"{r['path']:<14}{r['rows']:>10,}{r['driver_pct']:>14.2f}{r['driver_us']:>15.3f}{r['coord_pct']:>14.2f}"
              f"{r['worker_pct']:>15.1f}{r['worker_us']:>15.2f}")
    print_model(results, write_us, idle)


def print_model(results: list[dict], write_us: float, idle: float) -> None:
    via, one, two = results
    print(f"\nworker's extra CPU for writing Parquet itself: {write_us:.2f} µs/row (PartSeries alone); "
          f"whole worker direct - via driver: {one['worker_us'] - via['worker_us']:+.2f} µs/row")
    ceiling_via = 1e6 / max(via["driver_us"] - 1e4 * idle / max(via["rows"] / via["wall"], 1), 1e-3)
    print(f"ceiling via driver: every row costs the driver {via['driver_us']:.2f} µs -> one driver core caps "
          f"the cluster near {ceiling_via:,.0f} rows/s, whatever the node count")
    per_driver = max(two["driver_pct"] - one["driver_pct"], 0.01)
    per_coord = max(two["coord_pct"] - one["coord_pct"], 0.01)
    fixed = one["driver_pct"] - per_driver
    cap = 100 / max(per_driver, per_coord)
    print(f"direct: driver {fixed:.2f}% fixed (Ray idle {idle:.2f}%) + {per_driver:.2f}% per worker; coordinator "
          f"+{per_coord:.2f}% per worker -> ~{cap:,.0f} workers per core of the busier one, x {WORKER_MAX_RATE:,} "
          f"req/s each = {cap * WORKER_MAX_RATE:,.0f} rows/s (storage permitting)")


if __name__ == "__main__":
    main()
