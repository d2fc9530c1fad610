"""Report scale benchmark: synthetic archives of 10M, 100M and 1B rows in the contract schema.

    python benchmarks/report_scale.py                    # 10M and 100M rows: summary, report, engines
    python benchmarks/report_scale.py --rows 1e9 --repeat 1 --no-engines --keep /big/disk
    python benchmarks/report_scale.py --rows 1e7 --check --old integ   # exactness at 10M

Each archive is written with :class:`loadray.archive.SampleSink` (the run's Parquet format,
one file series per worker) and holds a 3-phase open-model run at 20k req/s over 8 workers and 3
plain steps, with ~1% errors of four kinds, a few drops and cuts, log-normal latencies;
one row in ten belongs to a two-step flow ``checkout/login`` -> ``checkout/pay``
(``flow_id``, ``flow_ns`` on its last row), 0.2% of rows are retries (``attempt`` 2);
``user``, ``trace_id``, ``ttfb_ns`` and ``chunks`` are null. Every step runs
``--repeat`` times, each in a fresh process (no cache shared between them); printed: the
median and the best wall time, the median CPU time of all the process's threads, and
the largest peak RSS:

- ``summary``: ``loadray.report.summary_for`` (every figure of ``summary.json``);
- ``report``: ``loadray.report.rebuild`` (summary, every aggregate, every plot,
  ``summary.json``, ``plots/*.png`` and ``report.html``).

Then the **engines** table: the per-step and run-wide exact percentiles of latency and
service (p50 p90 p95 p99 p99.9 ``linear`` = type 7, and the max) by DuckDB
(``quantile_cont``) and by polars' streaming engine (``quantile(q, "linear")``,
``collect(engine="streaming")``), each in a fresh process on the same archive, next to
our ``summary`` (which computes those and every other figure of ``summary.json``), and
whether the engine's p99 of every step and of the run (in ms rounded to the µs, like
``summary.json``) is ours.

``--check`` compares the summary with plain numpy/pandas over the whole columns in
memory (every percentile, min, max and mean of the run and of every step, to the µs;
every step's and error kind's count); ``--old REF`` also computes the summary and every
frame of the report (per-second series, per-step / per-worker tables, status by step,
spectrum, histogram, in-flight, error samples) with the in-memory code of git ref
``REF`` (``integ`` before the streaming analysis) and diffs them with ours. The exit
status is 1 when anything differs.

Targets on the 2-core dev machine (issue 12): 100M rows summary <= 10 s and <= 3 GB peak
RSS, the full report <= 30 s; 1B rows both complete with <= 4 GB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
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
#: rows -> (summary s, report s, peak RSS GB) the issue asks for (None: no time asked)
TARGETS: dict[int, tuple[float | None, float | None, float]] = {
    100_000_000: (10.0, 30.0, 3.0), 1_000_000_000: (None, None, 4.0)}
QS = (0.5, 0.9, 0.95, 0.99, 0.999)


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
import sys, json
from loadray.report import summary_for
s = summary_for(sys.argv[1])
RESULT = {"p99": {"*": s["latency_ms"]["p99"], **{k: v["latency_ms"]["p99"] for k, v in s["steps"].items()}}}
"""
_REPORT = """
import sys
from loadray.report import rebuild
rebuild(sys.argv[1])
RESULT = {}
"""
_DUCKDB = """
import sys, duckdb
qs = list(__QS__)
sql = (f"SELECT step, quantile_cont(latency_ns, {qs}), max(latency_ns), quantile_cont(service_ns, {qs}), "
       f"max(service_ns) FROM read_parquet('{sys.argv[1]}/samples/*.parquet') GROUP BY GROUPING SETS ((step), ())")
rows = duckdb.connect().execute(sql).fetchall()
RESULT = {"p99": {(r[0] if r[0] is not None else "*"): r[1][3] / 1e6 for r in rows}}
""".replace("__QS__", repr(QS))
_POLARS = """
import sys, polars as pl
qs = __QS__
lf = pl.scan_parquet(f"{sys.argv[1]}/samples/*.parquet")
aggs = [pl.col(c).quantile(q, interpolation="linear").alias(f"{c}{q}") for c in ("latency_ns", "service_ns") for q in qs]
aggs += [pl.col(c).max().alias(f"{c}_max") for c in ("latency_ns", "service_ns")]
steps, whole = pl.collect_all([lf.group_by("step").agg(aggs), lf.select(aggs)], engine="streaming")
p99 = {str(k): v / 1e6 for k, v in zip(steps["step"], steps["latency_ns0.99"])}
RESULT = {"p99": {"*": whole["latency_ns0.99"][0] / 1e6, **p99}}
""".replace("__QS__", repr(QS))
ENGINES = {"loadray summary": _SUMMARY, "duckdb": _DUCKDB, "polars streaming": _POLARS}


def timed(code: str, run_dir: Path, pythonpath: str | None = None) -> tuple[float, float, float, dict]:
    """Wall s, CPU s (every thread), peak RSS (GB) of a fresh interpreter running
    ``code`` (imports excluded), and the ``RESULT`` dict it leaves."""
    wrapper = (
        "import time, json, sys, resource\n"
        "import loadray.report, loadray.analysis, loadray.archive\n"
        "import matplotlib.figure, matplotlib.backends.backend_agg\n"
        "def cpu():\n"
        "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
        "    return r.ru_utime + r.ru_stime\n"
        "t0, c0 = time.perf_counter(), cpu()\n"
        f"exec({code!r})\n"
        "rss = [int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM')][0]\n"
        "rss /= 2**20  # GB (VmHWM: this process's own peak, not a parent's as ru_maxrss after a fork)\n"
        "print(json.dumps([time.perf_counter() - t0, cpu() - c0, rss, RESULT]))\n"
    )
    env = dict(os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {}))
    out = subprocess.run([sys.executable, "-c", wrapper, str(run_dir)], check=True, capture_output=True,
                         text=True, env=env, cwd=pythonpath)  # -c puts the cwd first on sys.path
    wall, cpu, rss, result = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, cpu, rss, result


def repeated(code: str, run_dir: Path, repeat: int) -> tuple[list[float], float, float, dict]:
    """Sorted wall times, median CPU, largest peak RSS and the last result of ``repeat`` runs."""
    runs = [timed(code, run_dir) for _ in range(repeat)]
    return sorted(r[0] for r in runs), median(r[1] for r in runs), max(r[2] for r in runs), runs[-1][3]


def _verdict(rows: int, summary: list[float], report: list[float], rss: float) -> str:
    target = TARGETS.get(rows)
    if not target:
        return ""
    s_max, r_max, rss_max = target
    ok = ((s_max is None or median(summary) <= s_max) and (r_max is None or median(report) <= r_max)
          and rss <= rss_max)
    return f"<= {s_max or '-'} s, <= {r_max or '-'} s, <= {rss_max:g} GB: {'met' if ok else 'MISSED'} (medians)"


def steps_table(rows: int, written: float, run_dir: Path, repeat: int) -> dict:
    """One line: the summary's and the report's times and peak RSS; returns the summary's."""
    summary, summary_cpu, summary_rss, result = repeated(_SUMMARY, run_dir, repeat)
    report, report_cpu, report_rss, _ = repeated(_REPORT, run_dir, repeat)
    verdict = _verdict(rows, summary, report, max(summary_rss, report_rss))
    print(f"{rows:>13,} {written:>8.2f} {median(summary):>8.2f} {summary[0]:>8.2f} {summary_cpu:>8.2f} "
          f"{summary_rss:>6.2f} {median(report):>8.2f} {report[0]:>8.2f} {report_cpu:>8.2f} {report_rss:>6.2f}  "
          f"{verdict} [load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores]", flush=True)
    return {"seconds": median(summary), "cpu": summary_cpu, "rss": summary_rss, "p99": result["p99"]}


def _same_p99(theirs: dict, ours: dict) -> str:
    """Whether every step's p99 (ms, rounded to the µs) is ours."""
    rounded = {str(k): round(float(v), 3) for k, v in theirs.items()}
    return "yes" if rounded == {k: round(float(v), 3) for k, v in ours.items()} else f"NO: {rounded}"


def engines_table(rows: int, run_dir: Path, ours: dict, repeat: int) -> None:
    """DuckDB and polars' streaming engine on the per-step percentiles, next to our summary."""
    print(f"  {'rows':>13} {'engine':<18} {'seconds':>8} {'cpu s':>8} {'peak RSS GB':>12}  same p99 (every step and run)")
    print(f"  {rows:>13,} {'loadray summary':<18} {ours['seconds']:>8.2f} {ours['cpu']:>8.2f} {ours['rss']:>12.2f}  "
          "(reference: every figure of summary.json)")
    for name in ("duckdb", "polars streaming"):
        try:
            walls, cpu, rss, result = repeated(ENGINES[name], run_dir, repeat)
        except subprocess.CalledProcessError as exc:
            print(f"  {rows:>13,} {name:<18} failed: {exc.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        print(f"  {rows:>13,} {name:<18} {median(walls):>8.2f} {cpu:>8.2f} {rss:>12.2f}  "
              f"{_same_p99(result['p99'], ours['p99'])}", flush=True)


def reference(run_dir: Path) -> dict:
    """The run's and every step's latency/service stats and counts by plain numpy and
    pandas over whole columns in memory (``summary.json``'s definitions: percentiles
    ``linear``, ms rounded to the µs; the mean of the values; counts of rows)."""
    import pandas as pd
    import pyarrow.dataset as ds

    table = ds.dataset(run_dir / "samples", format="parquet").to_table(
        columns=["step", "latency_ns", "service_ns", "error"])
    frame = pd.DataFrame({"step": table.column("step").to_pandas().astype(str),
                          "latency": table.column("latency_ns").to_pandas(),
                          "service": table.column("service_ns").to_pandas()})

    def stats(values: np.ndarray) -> dict:
        out = {f"p{str(q * 100).rstrip('0').rstrip('.').replace('.', '')}": np.percentile(values, q * 100)
               for q in QS}
        out.update(max=values.max(), mean=values.mean(), min=values.min())
        return {k: round(float(v) / 1e6, 3) for k, v in out.items()}

    ref: dict = {"errors_by_kind": table.column("error").to_pandas().value_counts().to_dict()}
    for metric in ("latency", "service"):
        ref[f"{metric}_ms"] = stats(frame[metric].dropna().to_numpy(np.int64))
    ref["steps"] = {str(step): {"count": len(g), "latency_ms": stats(g["latency"].dropna().to_numpy(np.int64))}
                    for step, g in frame.groupby("step")}
    return ref


def check(run_dir: Path, old: str | None) -> bool:
    """``--check``: our summary against :func:`reference` (and against git ref ``old``'s code)."""
    from loadray.report import summary_for

    ours = summary_for(run_dir)
    ref = reference(run_dir)
    bad = [k for k in ("latency_ms", "service_ms") if {x: ours[k][x] for x in ref[k]} != ref[k]]
    bad += [f"steps.{name}" for name, step in ref["steps"].items()
            if ours["steps"][name]["count"] != step["count"]
            or {x: ours["steps"][name]["latency_ms"][x] for x in step["latency_ms"]} != step["latency_ms"]]
    if ours["errors_by_kind"] != ref["errors_by_kind"]:
        bad.append(f"errors_by_kind {ours['errors_by_kind']} != {ref['errors_by_kind']}")
    print(f"numpy/pandas reference: {'identical' if not bad else 'DIFFERENT: ' + ', '.join(bad)}", flush=True)
    if old:
        theirs, frames = _at_ref(old, run_dir)
        diff = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
        print(f"summary of {old}'s code: {'identical' if not diff else 'DIFFERENT keys: ' + ', '.join(diff)}",
              flush=True)
        diff += _frames_differ(frames, _overview_frames(run_dir))
        print(f"report frames of {old}'s code: {'identical' if not diff else 'DIFFERENT: ' + ', '.join(diff)}",
              flush=True)
        bad += diff
    return not bad


def _overview_frames(run_dir: Path) -> dict:
    """Every frame the report draws and tabulates (series, breakdowns, spectrum...)."""
    import dataclasses

    from loadray.report.build import _summarized

    found = _summarized(run_dir, report=True)
    fold, stream = found[4], found[5]
    overview = fold.overview(stream.registry)
    return {f.name: getattr(overview, f.name) for f in dataclasses.fields(overview)}


#: the same frames by the in-memory code of a ref before the streaming analysis
_OLD_FRAMES = """
import dataclasses, pickle
from pathlib import Path
import loadray
from loadray.report.build import _summarized
from loadray.analysis import overview
summary, arrays, meta, doc = _summarized(Path(sys.argv[1]))
found = overview(arrays, meta.start_ns, summary["duration_s"])
pickle.dump({f.name: getattr(found, f.name) for f in dataclasses.fields(found)}, open(FRAMES, "wb"))
RESULT = {"summary": summary, "code": loadray.__file__}
"""


def _frames_differ(theirs: dict, ours: dict) -> list[str]:
    import pandas as pd

    differ = []
    for name, value in theirs.items():
        try:
            if isinstance(value, pd.DataFrame):
                pd.testing.assert_frame_equal(value, ours[name])
            elif isinstance(value, pd.Series):
                pd.testing.assert_series_equal(value, ours[name])
            elif value != ours[name]:
                differ.append(name)
        except AssertionError:
            differ.append(name)
    return differ


def _at_ref(ref: str, run_dir: Path) -> tuple[dict, dict]:
    """The summary and the report's frames computed by the code of git ref ``ref``
    (extracted to a temporary tree)."""
    import pickle

    tree = Path(tempfile.mkdtemp(prefix="loadray-ref-"))
    try:
        archive = subprocess.run(["git", "archive", ref, "loadray"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        frames = tree / "frames.pickle"
        result = timed(_OLD_FRAMES.replace("FRAMES", repr(str(frames))), run_dir, str(tree))[3]
        assert result["code"].startswith(str(tree)), result["code"]  # the ref's code ran, not ours
        return result["summary"], pickle.loads(frames.read_bytes())
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=float, action="append", help="archive size (default: 1e7 and 1e8)")
    p.add_argument("--repeat", type=int, default=3, help="fresh-process timings of each (default 3)")
    p.add_argument("--keep", type=Path, help="write the archives under this directory and keep them")
    p.add_argument("--no-engines", action="store_true", help="skip the DuckDB / polars table")
    p.add_argument("--check", action="store_true", help="compare the summary with numpy/pandas (whole columns)")
    p.add_argument("--old", metavar="REF", help="with --check: also diff against the summary of git ref REF's code")
    args = p.parse_args()
    sizes = [int(r) for r in (args.rows or [1e7, 1e8])]
    base = args.keep or Path(tempfile.mkdtemp(prefix="loadray-scale-"))
    ok = True
    for rows in sizes:
        run_dir = base / f"run-{rows}"
        t0 = time.perf_counter()
        if not (run_dir / "samples").is_dir():
            synthesize(run_dir, rows)
        written = time.perf_counter() - t0
        if args.check:
            ok &= check(run_dir, args.old)
        print(f"{'rows':>13} {'write s':>8} {'summary s':>33} {'report s':>33}  target (summary, report, RSS)")
        print(f"{'':>13} {'':>8}" + f" {'median':>8} {'min':>8} {'cpu':>8} {'RSS GB':>6}" * 2)
        ours = steps_table(rows, written, run_dir, args.repeat)
        if not args.no_engines:
            engines_table(rows, run_dir, ours, args.repeat)
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
