"""HTTP/2 benchmark: generator CPU-us per request, loadray HTTP/2 vs h2load, same rate,
same server, side by side in one run.

    python benchmarks/h2_bench.py [--duration 5] [--rates 1000,5000] [--repeat 3] [--connections 1]

Server: nginx speaking h2c (prior knowledge) pinned to core 1 if installed, else the
built-in target (h2c on its port). The generator is pinned to core 0:

- ``loadray h2``: one worker in this process (no Ray, uvloop, as an actor runs it), the
  open model at the rate, ``http: {version: 2, connections: N}``: the flow path with the
  HTTP/2 client; CPU = this process's user + sys over the run / rows;
- ``h2load``: nghttp2's load generator (C), ``-c N --rps R/N -m 100 -D duration``: the
  same rate over the same connections; CPU = the child's user + sys (``wait4``) / its
  completed requests (a fixed-rate h2load measures no latency from intended time, and
  records nothing per request: it is the floor, not a peer);
- ``loadray h1 flow`` / ``loadray h1 fast``: for scale, HTTP/1.1 at the same rate (nginx
  on another port speaking HTTP/1.1), on the flow path as HTTP/2 runs (the request
  made dynamic by a status check) and on the fixed-bytes fast path: ``h2 - h1 flow``
  is what HTTP/2 itself costs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's loadray
try:
    from flows import one_run, run_on_uvloop
    from servers import fast_server, pin
except ImportError:  # run as a module from the repo root
    from benchmarks.flows import one_run, run_on_uvloop
    from benchmarks.servers import fast_server, pin

H2LOAD = shutil.which("h2load")


def loadray_h2(url: str, rate: int, duration: float, connections: int) -> tuple[int, float, int]:
    doc = {"requests": [{"name": "root", "path": "/"}], "http": {"version": 2, "connections": connections},
           "load": {"phases": [{"duration": "D", "rate": rate}]}}
    return run_on_uvloop(one_run(url, doc, duration))


def loadray_h1(url: str, rate: int, duration: float, flow: bool) -> tuple[int, float, int]:
    """HTTP/1.1 on the fast path, or (``flow``) on the flow path as HTTP/2 runs (a 200
    check makes the request dynamic)."""
    request = {"name": "root", "path": "/", **({"check": {"status": [200]}} if flow else {})}
    doc = {"requests": [request], "load": {"phases": [{"duration": "D", "rate": rate}]}}
    return run_on_uvloop(one_run(url, doc, duration))


def h2load(url: str, rate: int, duration: float, connections: int) -> tuple[int, float, int] | None:
    """(requests done, CPU s, succeeded) of one h2load run at ``rate`` requests/s."""
    if H2LOAD is None:
        return None
    per_client = max(1, round(rate / connections))
    cmd = pin(0) + [H2LOAD, "-c", str(connections), "-m", "100", f"--rps={per_client}", "-D", str(int(duration)),
                    url + "/"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    found = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded", out)
    if found is None:
        print(f"h2load said: {out[-400:]}")
        return None
    return int(found.group(2)), usage.ru_utime + usage.ru_stime, int(found.group(3))


def show(case: str, rate: int, duration: float, results: list) -> float:
    results = [r for r in results if r is not None]
    if not results:
        print(f"{case:22} {rate:8d}  (not available)")
        return float("nan")
    per = sorted(cpu / max(1, done) * 1e6 for done, cpu, _ in results)
    median = per[len(per) // 2]
    done, _, ok = results[0]
    runs = " ".join(f"{p:.1f}" for p in per) if len(per) > 1 else ""
    print(f"{case:22} {rate:8d} {done / duration:8.0f} {done:7d} {done - ok:6d} {median:11.1f}  {runs}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rates", default="1000,5000", help="requests/s")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every case, interleaved; the median is shown")
    parser.add_argument("--connections", type=int, default=1, help="HTTP/2 connections (loadray and h2load alike)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    n = args.connections
    print(f"{'client':22} {'rate':>8} {'req/s':>8} {'done':>7} {'errors':>6} {'CPU-us/req':>11}  runs")
    with fast_server(cpu=1, http2=True) as (h2_url, name), fast_server(cpu=1) as (h1_url, _):
        for rate in (int(r) for r in args.rates.split(",")):
            runs: dict[str, list] = {"loadray h2": [], "h2load": [], "loadray h1 flow": [], "loadray h1 fast": []}
            for _ in range(args.repeat):  # interleaved, so a noisy moment hits every case alike
                runs["loadray h2"].append(loadray_h2(h2_url, rate, args.duration, n))
                runs["h2load"].append(h2load(h2_url, rate, args.duration, n))
                runs["loadray h1 flow"].append(loadray_h1(h1_url, rate, args.duration, flow=True))
                runs["loadray h1 fast"].append(loadray_h1(h1_url, rate, args.duration, flow=False))
            medians = {case: show(case, rate, args.duration, results) for case, results in runs.items()}
            for other in ("h2load", "loadray h1 flow", "loadray h1 fast"):
                print(f"{'  loadray h2 / ' + other:52} {medians['loadray h2'] / medians[other]:.2f}x")
    print(f"server: {name} on core 1 (h2c; HTTP/1.1 on another port); generator on core 0; "
          f"{n} HTTP/2 connection(s); h2load {'found' if H2LOAD else 'not installed (apt-get install nghttp2-client)'}")


if __name__ == "__main__":
    main()
