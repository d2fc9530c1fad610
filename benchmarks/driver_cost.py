"""What the ``loadray run`` process costs while the load runs, through the real driver.

    python benchmarks/driver_cost.py                         # 20k req/s, 20 s, 3 runs
    python benchmarks/driver_cost.py --compare /path/to/other/checkout --repeat 3

Each run is one ``loadray.driver.run()`` in a fresh process (an embedded Ray of 2 CPUs,
one worker writing its own parts to a local run directory, nginx on core 1 or else the
built-in target, the worker pinned to core 0). Between the first answer of the
coordinator (``begin``) and the end of the load (the driver's ``settle``) it measures:

- ``driver %``: this process's CPU over that window (every thread, Ray's own too), and
  the idle figure of the same process before the run (Ray's background threads alone);
- ``coord %``: the coordinator actor's process; ``worker µs/row``: the worker actor's
  process per archived row (it also sends the requests);
- ``tail s``: wall time from the planned end of the load to the workers being gone
  (``settle`` and ``kill`` returned): what the driver adds after the planned end
  (with when the driver saw the end and when ``settle`` returned);
- the busiest threads of the driver (``/proc/self/task/*/stat``).

``--compare DIR`` runs the same benchmark with ``PYTHONPATH=DIR`` (another checkout,
e.g. the previous commit) alternately with this one: before and after in one sitting.
``--tty`` runs the driver with a pseudo-terminal as stderr (the live console redraws).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def threads_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process, keyed ``name/tid``."""
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            on_cpu_ns = int((task / "schedstat").read_text().split()[0])  # ns, not 10 ms ticks
        except OSError:
            continue
        out[f"{name}/{task.name}"] = on_cpu_ns / 1e9
    return out


def one_run(rate: float, duration: float, tty: bool) -> dict:
    """One driver.run() in this process (the child side)."""
    sys.path.insert(0, str(HERE))
    from servers import fast_server

    import loadray.driver as driver
    from loadray.cluster import connect
    from loadray.scenario import parse_scenario

    marks: dict = {}

    class Timed(driver.Launcher):  # marks the load window on the real driver's launcher
        def start(self):
            ready = super().start()
            marks["workers"] = [r.pid for r in ready]
            import ray

            marks["coord"] = ray.get(self.coordinator.__ray_call__.remote(lambda self: os.getpid()))
            for pid in marks["workers"] if (os.cpu_count() or 1) > 1 else ():
                os.sched_setaffinity(pid, {0})
            return ready

        def begin(self):
            start_ns = super().begin()
            marks["planned_end"] = start_ns / 1e9 + duration
            marks["t0"], marks["threads0"] = time.monotonic(), threads_cpu()
            marks["self0"] = time.process_time()
            marks["coord0"], marks["worker0"] = proc_cpu_s(marks["coord"]), sum(map(proc_cpu_s, marks["workers"]))
            return start_ns

        def settle(self, write, *a, **k):
            marks["t1"], marks["threads1"] = time.monotonic(), threads_cpu()
            marks["self1"] = time.process_time()
            marks["coord1"], marks["worker1"] = proc_cpu_s(marks["coord"]), sum(map(proc_cpu_s, marks["workers"]))
            try:
                return super().settle(write, *a, **k)
            finally:
                marks["settled"] = time.time()

        def status(self):
            status = self._timed("status", super().status)
            if status.state == "finished" and "t0" in marks:
                marks.setdefault("seen_end", time.time())
            return status

        def poll_status(self, *a, **k):
            status = self._timed("poll_status", super().poll_status, *a, **k)
            if status is not None and status.state == "finished":
                marks.setdefault("seen_end", time.time())
            return status

        def collect(self, *a, **k):
            return self._timed("collect", super().collect, *a, **k)

        def _timed(self, name, call, *a, **k):
            c0 = time.thread_time()
            try:
                return call(*a, **k)
            finally:
                if "t0" in marks and "t1" not in marks:
                    n, s = marks.setdefault("calls", {}).get(name, (0, 0.0))
                    marks["calls"][name] = (n + 1, s + time.thread_time() - c0)

        def kill(self):
            super().kill()
            marks.setdefault("killed", time.time())

    driver.Launcher = Timed
    if tty:
        import pty

        master, slave = pty.openpty()
        os.dup2(slave, 2)
        threading.Thread(target=lambda: [os.read(master, 65536) for _ in iter(int, 1)], daemon=True).start()
        sys.stderr = os.fdopen(2, "w", buffering=1)
    connect(None, num_cpus=2)
    c0, t0, idle0 = time.process_time(), time.monotonic(), threads_cpu()
    time.sleep(5)
    idle_wall, idle1 = time.monotonic() - t0, threads_cpu()
    idle = 100 * (time.process_time() - c0) / idle_wall
    idle_threads = {k.split("/")[0]: 0.0 for k in idle1}
    for k, v in idle1.items():
        idle_threads[k.split("/")[0]] += 100 * (v - idle0.get(k, 0.0)) / idle_wall
    with fast_server(cpu=1) as (url, _), tempfile.TemporaryDirectory(prefix="loadray-drvcost-") as tmp:
        scenario = parse_scenario({
            "name": "drvcost", "target": url, "workers": 1, "transport": "fast",
            "load": {"model": "open", "phases": [{"duration": duration, "rate": rate}]},
            "http": {"max_in_flight": 64, "when_full": "queue", "timeout": "30s"},
            "requests": [{"name": "root", "method": "GET", "path": "/"}],
        })
        result = driver.run(scenario, driver.RunOptions(out=Path(tmp) / "run", quiet=False))
    wall = marks["t1"] - marks["t0"]
    rows = int(result.summary.get("sent", 0))
    th0, th1 = marks["threads0"], marks["threads1"]
    by_name: dict[str, float] = {}
    for k in th1:
        by_name[k.split("/")[0]] = by_name.get(k.split("/")[0], 0.0) + 100 * (th1[k] - th0.get(k, 0.0)) / wall
    busy = sorted(((v, k) for k, v in by_name.items()), reverse=True)[:8]
    return {
        "driver_pct": 100 * (marks["self1"] - marks["self0"]) / wall, "idle_pct": idle,
        "coord_pct": 100 * (marks["coord1"] - marks["coord0"]) / wall,
        "worker_us": 1e6 * (marks["worker1"] - marks["worker0"]) / max(rows, 1),
        "tail_s": marks["killed"] - marks["planned_end"], "rows": rows, "wall": wall,
        "seen_end_s": marks.get("seen_end", float("nan")) - marks["planned_end"],
        "settled_s": marks["settled"] - marks["planned_end"],
        "threads": [(k, round(v, 3), round(idle_threads.get(k, 0.0), 3)) for v, k in busy],
        "load": os.getloadavg()[0],
        "calls": {k: (n, round(1e3 * c / n, 3), round(100 * c / wall, 3)) for k, (n, c) in marks.get("calls", {}).items()},
    }


def spawn(pythonpath: str, args) -> dict:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    cmd = [sys.executable, __file__, "--child", "--rate", str(args.rate), "--duration", str(args.duration)]
    out = subprocess.run(cmd + (["--tty"] if args.tty else []), env=env, capture_output=True, text=True,
                         cwd=pythonpath)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise SystemExit(f"run failed ({pythonpath}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=20_000)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare", help="another checkout, run alternately with this one")
    ap.add_argument("--tty", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_run(args.rate, args.duration, args.tty)))
        return
    trees = {"this": str(HERE.parent)} | ({"other": args.compare} if args.compare else {})
    results: dict[str, list[dict]] = {name: [] for name in trees}
    for i in range(args.repeat):
        for name, tree in trees.items():
            r = spawn(tree, args)
            results[name].append(r)
            print(f"{name:<6} run {i + 1}: driver {r['driver_pct']:.3f}% (idle {r['idle_pct']:.3f}%) coord "
                  f"{r['coord_pct']:.2f}% worker {r['worker_us']:.2f} µs/row tail {r['tail_s']:.2f} s (end seen "
                  f"{r['seen_end_s']:.2f}, settled {r['settled_s']:.2f}) rows "
                  f"{r['rows']:,} load {r['load']:.2f}  top threads {r['threads'][:4]}", flush=True)
    print(f"\n{'tree':<8}{'driver %core':>14}{'idle %core':>12}{'coord %core':>13}{'worker µs/row':>15}{'tail s':>9}")
    for name, rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("driver_pct", "idle_pct", "coord_pct", "worker_us", "tail_s")}
        print(f"{name:<8}{med['driver_pct']:>14.3f}{med['idle_pct']:>12.3f}{med['coord_pct']:>13.2f}"
              f"{med['worker_us']:>15.2f}{med['tail_s']:>9.2f}   (medians of {len(rs)})")


if __name__ == "__main__":
    main()
