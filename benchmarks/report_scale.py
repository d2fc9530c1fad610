"""Report scale benchmark: synthetic archives of 1M and 10M rows in the contract schema.

    python benchmarks/report_scale.py                  # 1M and 10M rows
    python benchmarks/report_scale.py --rows 1e6       # one size
    python benchmarks/report_scale.py --keep DIR       # keep the archives under DIR

Each archive is written with :class:`loadray.archive.SampleSink` (zstd Parquet, one file
series per worker, schema 1.1) and holds a 3-phase open-model run at 20k req/s over 8
workers and 3 plain steps, with ~1% errors of four kinds, a few drops and cuts,
log-normal latencies; one row in ten belongs to a two-step flow ``checkout/login`` ->
``checkout/pay`` (``flow_id``, ``flow_ns`` on its last row), 0.2% of rows are retries
(``attempt`` 2); ``user`` and ``trace_id`` are null (open model, no tracing).
Timed ``--repeat`` times each in a fresh process (no cache shared between them; the
median and the best wall time are printed, and the median CPU time of all the process's
threads, steadier than wall time on a shared machine):

- ``summary``: ``read_samples`` + ``summarize`` (what ``summary.json`` needs);
- ``report``: ``loadray.report.rebuild`` (read, summarize, every aggregate, every plot,
  ``summary.json``, ``plots/*.png`` and ``report.html``).

Targets on the 2-core dev machine: summary of 10M rows <= 2 s, report of 10M <= 15 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np
import pyarrow as pa

from loadray.archive import SampleSink, create_run_dir, write_scenario
from loadray.schema import SCHEMA

RATE = 20_000  # cluster-wide requests/s
WORKERS = 8
STEPS = ("home", "search", "checkout")
FLOW_STEPS = ("checkout/login", "checkout/pay")
FLOW_EVERY = 20  # rows k % 20 == 0 and 1 are one flow instance's two steps (10% of rows)
RETRY_P = 0.002
ERRORS = np.array([None, "timeout", "http_5xx", "reset", "dropped", "cut"], dtype=object)
ERROR_P = np.array([0.988, 0.004, 0.004, 0.002, 0.0015, 0.0005])
#: Two details per error kind (none for success, dropped and cut), as the engine records them.
DETAILS = np.array([None, None, "TimeoutError: read timed out", "TimeoutError: connect timed out",
                    "HTTP 503: Service Unavailable", "HTTP 502: Bad Gateway",
                    "ConnectionResetError: [Errno 104] Connection reset by peer",
                    "ConnectionResetError: [Errno 32] Broken pipe", None, None, None, None], dtype=object)
START_NS = 1_700_000_000_000_000_000
CHUNK = 1_000_000
TARGETS = {10_000_000: (2.0, 15.0)}


def scenario_doc(rows: int) -> dict:
    seconds = rows / RATE
    return {
        "name": f"synthetic-{rows}",
        "target": "http://127.0.0.1:8080",
        "workers": WORKERS,
        "load": {"model": "open", "phases": [
            {"duration": f"{seconds * 0.25:g}s", "rate": RATE},
            {"duration": f"{seconds * 0.5:g}s", "rate": RATE},
            {"duration": f"{seconds * 0.25:g}s", "rate": RATE},
        ]},
        "requests": [{"name": s, "method": "GET", "path": f"/{s}"} for s in STEPS],
        "thresholds": ["p99 < 250ms", "error_rate < 1%"],
    }


def chunk_table(first: int, n: int, total: int, rng: np.random.Generator) -> pa.Table:
    """Global requests first..first+n-1 of a run of ``total`` evenly spaced requests."""
    k = np.arange(first, first + n, dtype=np.int64)
    intended = START_NS + k * (1_000_000_000 // RATE)
    code = rng.choice(len(ERRORS), size=n, p=ERROR_P)
    err = ERRORS[code]
    dropped = err == "dropped"
    no_end = dropped | (err == "cut")
    lag = rng.integers(20_000, 1_200_000, n)
    service = rng.lognormal(np.log(5e6), 0.5, n).astype(np.int64)
    status = np.where(err == None, 200, np.where(err == "http_5xx", 503, 0)).astype(np.int16)  # noqa: E711
    step = (k % len(STEPS)).astype(np.int16)
    in_flow = k % FLOW_EVERY < len(FLOW_STEPS)
    step[in_flow] = len(STEPS) + (k[in_flow] % FLOW_EVERY)
    last = (k % FLOW_EVERY == len(FLOW_STEPS) - 1) & ~no_end
    flow_ns = service + lag + rng.integers(1_000_000, 20_000_000, n)  # + the earlier step
    return pa.table(
        {
            "intended_ns": intended,
            "sent_ns": pa.array(intended + lag, mask=dropped),
            "latency_ns": pa.array(service + lag, mask=no_end),
            "service_ns": pa.array(service, mask=no_end),
            "status": status,
            "error": pa.array(err, SCHEMA.field("error").type),
            "step": pa.DictionaryArray.from_arrays(pa.array(step), [*STEPS, *FLOW_STEPS]),
            "phase": (np.minimum(k * 4 // total, 3) - (k * 4 // total >= 2)).astype(np.int16),
            "worker": (k % WORKERS).astype(np.int16),
            "bytes_in": np.full(n, 612, np.int32),
            "attempt": (1 + (rng.random(n) < RETRY_P)).astype(np.int8),
            "user": pa.nulls(n, pa.int32()),
            "flow_id": pa.array(k // FLOW_EVERY, mask=~in_flow),
            "flow_ns": pa.array(flow_ns, mask=~last),
            "trace_id": pa.nulls(n, pa.string()),
            "error_detail": pa.array(DETAILS[2 * code + rng.integers(0, 2, n)],
                                     SCHEMA.field("error_detail").type),
            "ttfb_ns": pa.nulls(n, pa.int64()),
            "chunks": pa.nulls(n, pa.int32()),
        },
        schema=SCHEMA,
    )


def synthesize(run_dir: Path, rows: int, seed: int = 1) -> Path:
    """A run directory of ``rows`` synthetic samples written through SampleSink."""
    create_run_dir(run_dir)
    write_scenario(run_dir, scenario_doc(rows))
    rng = np.random.default_rng(seed)
    sink = SampleSink(run_dir / "samples", START_NS)
    for first in range(0, rows, CHUNK):
        table = chunk_table(first, min(CHUNK, rows - first), rows, rng)
        workers = table.column("worker").to_numpy()
        for w in range(WORKERS):
            sink.write(w, table.filter(workers == w))
    sink.close(START_NS + rows * (1_000_000_000 // RATE))
    return run_dir


_SUMMARY = """
import sys
from loadray.analysis import summarize
from loadray.archive import read_samples
from loadray.analysis import ANALYSIS_COLUMNS
table, meta = read_samples(sys.argv[1], ANALYSIS_COLUMNS)
summarize(table, meta)
"""
_REPORT = """
import sys
from loadray.report import rebuild
rebuild(sys.argv[1])
"""


def timed(code: str, run_dir: Path) -> tuple[float, float]:
    """Wall and CPU seconds (every thread) a fresh interpreter spends in ``code``
    (imports excluded)."""
    wrapper = (
        "import time, json, sys, resource\n"
        "import loadray.report, loadray.analysis, loadray.archive\n"
        "import matplotlib.figure, matplotlib.backends.backend_agg\n"
        "def cpu():\n"
        "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
        "    return r.ru_utime + r.ru_stime\n"
        "t0, c0 = time.perf_counter(), cpu()\n"
        f"exec({code!r})\n"
        "print(json.dumps([time.perf_counter() - t0, cpu() - c0]))\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, str(run_dir)], check=True, capture_output=True, text=True)
    wall, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=float, action="append", help="archive size (default: 1e6 and 1e7)")
    p.add_argument("--repeat", type=int, default=3, help="fresh-process timings of each (default 3)")
    p.add_argument("--keep", type=Path, help="write the archives under this directory and keep them")
    args = p.parse_args()
    sizes = [int(r) for r in (args.rows or [1e6, 1e7])]
    base = args.keep or Path(tempfile.mkdtemp(prefix="loadray-scale-"))
    print(f"{'rows':>12} {'write s':>8} {'summary s':>26} {'report s':>26}  target (summary, report)")
    print(f"{'':>12} {'':>8}" + f" {'median':>8} {'min':>8} {'cpu':>8}" * 2)
    for rows in sizes:
        run_dir = base / f"run-{rows}"
        t0 = time.perf_counter()
        if not (run_dir / "samples").is_dir():
            synthesize(run_dir, rows)
        written = time.perf_counter() - t0
        summary, summary_cpu = (sorted(t) for t in zip(*(timed(_SUMMARY, run_dir) for _ in range(args.repeat))))
        report, report_cpu = (sorted(t) for t in zip(*(timed(_REPORT, run_dir) for _ in range(args.repeat))))
        target = TARGETS.get(rows)
        verdict = ""
        if target:
            ok = median(summary) <= target[0] and median(report) <= target[1]
            verdict = f"<= {target[0]:g} s, <= {target[1]:g} s: {'met' if ok else 'MISSED'} (medians)"
        print(f"{rows:>12,} {written:>8.2f} {median(summary):>8.2f} {summary[0]:>8.2f} {median(summary_cpu):>8.2f} "
              f"{median(report):>8.2f} {report[0]:>8.2f} {median(report_cpu):>8.2f}  {verdict}", flush=True)
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
