"""Engine benchmark: one loadray worker actor vs wrk and hey, same server, same run.

    python benchmarks/engine.py                 # ~2 min: both transports, max and fixed rates
    python benchmarks/engine.py --soak 60       # adds the 60 s RSS check at 20k req/s

Server: nginx pinned to core 1 if installed, else the built-in target. The generator
(loadray's worker process, wrk, hey) is pinned to core 0. "CPU-us/req" is the
generator process's own CPU time (user + system, every thread of the process: for
loadray the whole Ray worker) divided by completed requests; "user" and "sys" split
it. The "lean floor" row is a bare uvloop Protocol + httptools client with no pacing,
recording or Ray (``transport_micro.py --transports lean``): what any Python asyncio
client pays here, mostly the kernel's loopback TCP work in the send/recv syscalls.
"""

from __future__ import annotations

import argparse
import os
import pyarrow.compute as pc
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import fast_server, pin  # noqa: E402

from loadray.cluster import Launcher, connect  # noqa: E402
from loadray.scenario import parse_scenario  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
MAX_RATE = 1_000_000  # "as fast as it goes": the schedule is always due, the cap paces


@dataclass
class Row:
    client: str
    mode: str
    target_rate: float | None
    rps: float
    cpu_us: float
    user_us: float = float("nan")
    sys_us: float = float("nan")
    recorded: str = ""
    note: str = ""


def proc_cpu_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of process ``pid``, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def last_done_ns(batches) -> int:
    """The epoch ns at which the last request of ``batches`` completed (0 if none)."""
    last = 0
    for b in batches:
        done = pc.max(pc.add(b.column("intended_ns"), b.column("latency_ns"))).as_py()
        last = max(last, done or 0)
    return last


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


TRACE: dict = {}  # {"trace": False} with --no-trace; the scenario default otherwise


def loadray_scenario(url: str, transport: str, rate: float, duration: float, conns: int):
    return parse_scenario(
        {
            **TRACE,
            "name": "bench",
            "target": url,
            "workers": 1,
            "transport": transport,
            "load": {"model": "open", "phases": [{"duration": duration, "rate": rate}]},
            "http": {"max_in_flight": conns, "when_full": "queue", "timeout": "30s"},
            "requests": [{"name": "root", "method": "GET", "path": "/"}],
            "cluster": {"worker_cpus": 1},
        }
    )


def run_loadray(url, transport, rate, duration, conns, rss_at=None):
    scenario = loadray_scenario(url, transport, rate, duration, conns)
    launcher = Launcher(scenario)
    pid = launcher.start()[0].pid
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {0})
    cpu0 = proc_cpu_s(pid)
    start_ns = launcher.begin()
    rows, rss, last_ns = 0, {}, 0

    def write(index, batch):
        nonlocal rows, last_ns
        rows += batch.num_rows
        last_ns = max(last_ns, last_done_ns([batch]))

    while not launcher.wait(0.5):
        launcher.collect(write)
        elapsed = (time.time_ns() - start_ns) / 1e9
        for mark in rss_at or ():
            if elapsed >= mark and mark not in rss:
                rss[mark] = proc_rss_mb(pid)
        if rate >= MAX_RATE and elapsed >= duration:  # "max" never catches up: stop it
            launcher.stop()
            break
    stopped_ns = time.time_ns()
    launcher.settle(write)
    # until the last response (or the stop), not until we noticed the end
    elapsed = (min(last_ns or stopped_ns, stopped_ns) - start_ns) / 1e9
    user, system = (b - a for a, b in zip(cpu0, proc_cpu_s(pid)))
    rss["end"] = proc_rss_mb(pid)
    launcher.kill()
    c = next(iter(launcher.inboxes.values())).last.counters
    mode = "max" if rate >= MAX_RATE else "open"
    # completed requests over the time until the last one completed: a generator that
    # falls behind its schedule shows here as a rate error, however "on time" it submitted
    rps = c.done / max(elapsed, duration)
    note = "" if mode == "max" else f"rate error {rps / rate - 1:+.2%}"
    errors = f", {c.errors} errors" if c.errors else ""
    per = 1e6 / max(c.done, 1)
    return Row(f"loadray {transport}", mode, None if mode == "max" else rate, rps, (user + system) * per,
               user * per, system * per, f"{rows}/{c.intended} rows{errors}", note), rss


def run_reference(name: str, cmd: list[str], pattern: str, target_rate=None) -> Row | None:
    if not shutil.which(cmd[0]):
        return None
    proc = subprocess.Popen(pin(0) + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    m = re.search(pattern, out)
    if not m:
        return Row(name, "?", target_rate, float("nan"), float("nan"), note="could not parse output")
    rps = float(m.group(1))
    duration = float(re.search(r"-[dz]\s*(\d+)s", " ".join(cmd)).group(1))
    per = 1e6 / max(rps * duration, 1)
    mode = "max" if target_rate is None else "open"
    note = "" if target_rate is None else f"rate error {rps / target_rate - 1:+.2%}"
    return Row(name, mode, target_rate, rps, (usage.ru_utime + usage.ru_stime) * per,
               usage.ru_utime * per, usage.ru_stime * per, note=note)


def run_floor(url: str, duration: float, conns: int) -> Row | None:
    """The lean Protocol + httptools loop of transport_micro.py, pinned like the rest."""
    micro = Path(__file__).resolve().parent / "transport_micro.py"
    cmd = pin(0) + [sys.executable, str(micro), "--transports", "lean", "--url", url,
                    "--duration", str(duration), "-c", str(conns), "--no-pin"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    m = re.search(r"^lean\s+([\d,]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    if not m:
        return Row("lean floor", "?", None, float("nan"), float("nan"), note="could not parse output")
    rps, cpu, user, system = (float(g.replace(",", "")) for g in m.groups())
    return Row("lean floor", "max", None, rps, cpu, user, system, note="uvloop + httptools, no engine/Ray")


HEAD = (f"{'client':<18} {'mode':<5} {'target/s':>9} {'req/s':>10} {'CPU-us/req':>11} {'user':>6} {'sys':>6}"
        f"  {'recorded':<24} note")


def print_head(server: str) -> None:
    print(f"\nserver: {server} on core 1; generators on core 0\n\n{HEAD}\n{'-' * len(HEAD)}", flush=True)


def print_row(r: Row) -> None:
    target = f"{r.target_rate:,.0f}" if r.target_rate else "-"
    print(f"{r.client:<18} {r.mode:<5} {target:>9} {r.rps:>10,.0f} {r.cpu_us:>11.1f} {r.user_us:>6.1f} "
          f"{r.sys_us:>6.1f}  {r.recorded:<24} {r.note}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--rates", default="5000,20000")
    ap.add_argument("--transports", default="fast,aiohttp")
    ap.add_argument("--no-reference", action="store_true", help="skip wrk, hey and the lean floor")
    ap.add_argument("--soak", type=float, default=0, help="also run N s at 20k req/s and report RSS")
    ap.add_argument("--no-trace", action="store_true", help="scenario trace: false (no traceparent)")
    args = ap.parse_args()
    if args.no_trace:
        TRACE["trace"] = False
    rates = [float(r) for r in args.rates.split(",") if r]
    d, c = int(args.duration), args.conns
    session = connect(None, num_cpus=2)
    try:
        with fast_server(cpu=1) as (url, server):
            print_head(server)
            refs = [
                ("wrk", ["wrk", "-t1", f"-c{c}", f"-d{d}s", url + "/"], r"Requests/sec:\s+([\d.]+)", None),
                ("hey", ["hey", "-z", f"{d}s", "-c", str(c), url + "/"], r"Requests/sec:\s+([\d.]+)", None),
            ]
            for rate in rates:
                per = max(1, int(rate) // c)
                refs.append(("hey -q", ["hey", "-z", f"{d}s", "-c", str(c), "-q", str(per), url + "/"],
                             r"Requests/sec:\s+([\d.]+)", per * c))
            for name, cmd, pattern, target in [] if args.no_reference else refs:
                row = run_reference(name, cmd, pattern, target)
                if row:
                    print_row(row)
            if not args.no_reference:
                print_row(run_floor(url, args.duration, c))
            for transport in args.transports.split(","):
                for rate in [MAX_RATE] + rates:
                    print_row(run_loadray(url, transport, rate, args.duration, c)[0])
            if args.soak:
                row, rss = run_loadray(url, "fast", 20000, args.soak, c, rss_at=[10])
                print_row(row)
                print(f"\nworker RSS: {rss.get(10, float('nan')):.1f} MB at 10 s, "
                      f"{rss['end']:.1f} MB at {args.soak:g} s "
                      f"(growth {rss['end'] - rss.get(10, float('nan')):+.1f} MB)")
    finally:
        session.close()


if __name__ == "__main__":
    main()
