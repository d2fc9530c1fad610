"""Several raylets on this machine: SPREAD placement on distinct nodes, and a node
removed mid-run ends in a completed run with the loss counted and the rate back."""

from __future__ import annotations

import pytest
import json
import subprocess
import sys
from pathlib import Path


pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

from loadray.archive.reader import scan_parts  # noqa: E402

HERE = Path(__file__).resolve().parent


def test_spread_placement_and_node_loss(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, str(HERE / "multinode_run.py"), str(out)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    # no worker on the driver's node (the head has no CPU): every row comes to the driver, and it says so
    assert "loadray run: workers 0, 1, 2 on other hosts (" in done.stderr
    assert "their rows go through the driver to " in done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    record = scan_parts(out)[1].record  # the parts' metadata, else the manifest
    first = [p for p in record["placement"]][:3]
    assert sorted(p["worker"] for p in first) == [0, 1, 2]
    assert len({p["node"] for p in first}) == 3  # SPREAD: one worker per node
    assert result["removed_node"] in {p["node"] for p in first}
    assert result["exit_code"] == 0
    assert len(record["dead_workers"]) == 1 and record["lost"] > 0
    per_second = {int(k): v for k, v in result["per_second"].items()}
    t = int(result["removed_at"])
    recovered = [n for s, n in per_second.items() if t + 3 <= s < max(per_second)]
    assert recovered and all(285 <= n <= 315 for n in recovered), per_second
