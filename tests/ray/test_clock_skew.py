"""Worker hosts whose wall clocks are 2 s ahead of and 2 s behind the driver's
(libfaketime on their Ray nodes): each worker's offset is measured and corrected, so
the run starts together, holds its rate at the target second by second, and ends on
time; the placement records the offsets and the warnings name both hosts.

Before the correction the host 2 s ahead fenced itself at once (it read its first
lease as 2 s old) and the one 2 s behind sent its share 2 s late, past the run's end."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

HERE = Path(__file__).resolve().parent
FAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)  # Debian's faketime
SKEW_MS = {"+0s": 0.0, "+2s": 2000.0, "-2s": -2000.0}


@pytest.mark.skipif(FAKETIME is None, reason="libfaketime is not installed (.ci/run installs it)")
def test_hosts_2s_ahead_and_behind_run_in_step_with_the_driver(tmp_path):
    done = subprocess.run([sys.executable, str(HERE / "skewed_clocks_run.py"), str(tmp_path / "run"), str(FAKETIME)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    s = out["summary"]
    assert out["exit_code"] == 0 and s["events"] == [], s["events"]  # nobody fenced, nobody lost
    assert s["planned"] == s["rows"] == s["intended"] == s["ok"] == 1800  # 3 s at 150/s, 3 s at 450/s

    skews = sorted((out["skew_of_node"][p["node"]], p["clock_offset_ms"], p["clock_error_ms"]) for p in s["placement"])
    for skew, offset, error in skews:
        assert abs(offset - SKEW_MS[skew]) < 50 and 0 <= error < 50, skews
    said = [w for w in s["warnings"] if "host clock is" in w]
    assert len(said) == 2 and sum("ahead of the driver's" in w for w in said) == 1, said

    # one timeline: every worker's first and last arrival within 50 ms of the others'
    firsts, lasts = zip(*out["spans"].values())
    assert max(firsts) - min(firsts) < 50e6 and max(lasts) - min(lasts) < 50e6, out["spans"]

    # at the target: 150/s and 450/s in the two whole seconds inside each phase (summed: a
    # starved second hands arrivals to the next), nothing after the end
    start = datetime.fromisoformat(s["started_at"].replace("Z", "+00:00")).timestamp()
    arrivals = {int(k): v for k, v in out["per_second"].items()}
    whole = lambda first: arrivals.get(int(start) + first, 0) + arrivals.get(int(start) + first + 1, 0)  # noqa: E731
    assert 0.93 * 300 <= whole(1) <= 1.07 * 300 and 0.95 * 900 <= whole(4) <= 1.05 * 900, (start, arrivals)
    assert sum(v for second, v in arrivals.items() if second > start + 7) == 0, (start, arrivals)
    assert sum(arrivals.values()) == 1800
