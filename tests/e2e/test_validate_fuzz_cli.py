"""Fuzz acceptance test, real process: a sample of the seeded scenario mutations of
tests/unit/test_validate_fuzz.py through ``python -m loadray validate``. Each exits 0
(no stderr) or 2 with exactly one line, never 1, never a traceback; each child uses
under 5 s of CPU (wall time has a looser bound: the machine is shared) and its peak
RSS stays under 200 MB."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time

from cli_support import REPO
from fuzz_scenarios import KINDS, cases, workspace

SAMPLE = 2 * len(KINDS)  # two of each kind, the first of the unit test's cases
MAX_CPU_S = 5.0
MAX_WALL_S = 20.0
MAX_RSS_MB = 200.0


# The CLI, reporting its own peak RSS (VmHWM) on exit: the child's rusage would also count
# what it inherited from this (large, long-lived) test process before its exec.
_MEASURED = (
    "import atexit, os, re, sys\n"
    "FD = int(sys.argv[2])\n"
    "def _peak():\n"
    "    kb = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
    "    os.write(FD, kb.encode())\n"
    "atexit.register(_peak)\n"
    "sys.argv = ['loadray', 'validate', sys.argv[1]]\n"
    "from loadray.cli.main import main\n"
    "main()\n"
)


def _validate(path) -> tuple[int, str, float, float, float]:
    """Exit code, stderr, wall seconds, CPU seconds and peak RSS (MB) of one child."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    read_peak, write_peak = os.pipe()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", _MEASURED, str(path), str(write_peak)], stdout=out,
                                 stderr=err, cwd=REPO, env=env, pass_fds=(write_peak,))
        os.close(write_peak)
        timer = threading.Timer(MAX_WALL_S * 3, child.kill)
        timer.start()
        _, status, usage = os.wait4(child.pid, 0)
        timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        err.seek(0)
        text = err.read().decode(errors="replace")
    with os.fdopen(read_peak, "rb") as peak:
        rss_mb = int(peak.read() or 0) / 1024
    return child.returncode, text, wall, usage.ru_utime + usage.ru_stime, rss_mb


def test_a_sample_of_the_mutations_through_the_real_cli(tmp_path):
    folder = workspace(tmp_path)
    failures, worst = [], (0.0, 0.0, 0.0)
    for case in cases(SAMPLE):
        path = folder / f"{case.name}.yaml"
        path.write_bytes(case.data)
        code, err, wall, cpu, rss = _validate(path)
        worst = tuple(max(a, b) for a, b in zip(worst, (wall, cpu, rss)))
        lines = err.splitlines()
        good = (code == 0 and not err) or (code == 2 and len(lines) == 1 and "error:" in lines[0])
        if not good or "Traceback" in err or cpu > MAX_CPU_S or wall > MAX_WALL_S or rss > MAX_RSS_MB:
            failures.append(f"{case.name}: exit {code}, {wall:.1f}s wall, {cpu:.1f}s CPU, {rss:.0f}MB: {err[:300]!r}")
    print(f"{SAMPLE} CLI cases; worst: {worst[0]:.2f}s wall, {worst[1]:.2f}s CPU, {worst[2]:.0f}MB")
    assert not failures, "\n".join(failures)
