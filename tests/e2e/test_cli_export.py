"""``loadray export`` streams: its peak memory on a 6-million-row archive is that on a
1-million-row one (the same parts, five times as many), where reading the rows whole
would take ~225 MB more; every row comes out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from cli_support import REPO
from loadray.archive import SampleSink
from loadray.schema import SCHEMA

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

START = 1_700_000_000_000_000_000
MB = 1 << 20

PEAK = r"""
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, repr(done.stderr))
"""


def _archive(run_dir, rows: int, chunk: int = 1 << 17) -> int:
    """An archive of ``rows`` rows written ``chunk`` at a time (the sink's row groups);
    the decoded size in bytes."""
    sink = SampleSink(run_dir / "samples", START, rows_per_file=4 * chunk)
    decoded = 0
    for at in range(0, rows, chunk):
        n = min(chunk, rows - at)
        t = START + np.arange(at, at + n, dtype=np.int64) * 1000
        columns = {"intended_ns": t, "sent_ns": t + 50, "latency_ns": np.full(n, 2_000_000), "service_ns":
                   np.full(n, 1_900_000), "status": np.full(n, 200, np.int16),
                   "error": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int8)), ["timeout"]),
                   "step": pa.DictionaryArray.from_arrays(pa.array((np.arange(n) % 3).astype(np.int16)), ["a", "b", "c"]),
                   "phase": np.zeros(n, np.int16), "worker": np.zeros(n, np.int16), "bytes_in": np.full(n, 100, np.int32),
                   "attempt": np.ones(n, np.int8)}
        arrays = [pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type) for f in SCHEMA]
        batch = pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)
        decoded += batch.nbytes
        sink.write(0, batch)
    sink.close(START + rows * 1000)
    return decoded


def _peak_mb(run_dir, fmt: str) -> float:
    cmd = [sys.executable, "-c", PEAK, sys.executable, "-m", "loadray", "export", str(run_dir), "--format", fmt]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO,
                         env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
    code, peak_kb, stderr = out.stdout.split(" ", 2)
    assert code == "0", stderr
    return int(peak_kb) / 1024


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_memory_stays_flat_on_millions_of_rows(tmp_path_factory, fmt):
    base = tmp_path_factory.getbasetemp()
    big, small = base / "export-big", base / "export-small"
    if not big.exists():
        assert _archive(big, 6_000_000) - _archive(small, 1_000_000) > 200 * MB  # what 5M more rows take
    small_mb, big_mb = _peak_mb(small, fmt), _peak_mb(big, fmt)
    assert big_mb - small_mb < 40, f"{fmt}: peak {small_mb:.0f} MB at 1M rows, {big_mb:.0f} MB at 6M rows"


def test_export_writes_every_row_to_a_file(cli, tmp_path):
    _archive(tmp_path / "run", 1_200_000, chunk=400_000)
    out = tmp_path / "rows.jsonl"
    done = cli("export", tmp_path / "run", "--format", "jsonl", "--columns", "intended_ns,step", "--out", out)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"wrote 1200000 rows to {out}\n" and done.stdout == ""
    with out.open() as f:
        first = json.loads(f.readline())
        count = 1 + sum(1 for _ in f)
    assert count == 1_200_000 and first == {"intended_ns": START, "step": "a"}
    missing = cli("export", tmp_path / "nope", "--format", "csv")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_a_reader_that_stops_early_is_not_an_error(tmp_path):
    _archive(tmp_path / "run", 400_000)
    proc = subprocess.Popen([sys.executable, "-m", "loadray", "export", str(tmp_path / "run"), "--format", "csv"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    assert proc.stdout.readline().startswith(b'"intended_ns","sent_ns"')
    proc.stdout.close()  # `| head -1`
    assert proc.wait(timeout=60) == 0 and proc.stderr.read() == b""
