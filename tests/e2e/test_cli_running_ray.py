"""`loadray run` beside a running `ray start --head` (issue 9 item 5): without an address
it starts its own Ray (token auth on), with RAY_ADDRESS it joins that one and says so.

The head runs in namespaces of its own (see netns_running_ray.py): a head in the
machine's /tmp/ray would be joined by every other embedded Ray on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import REPO
from marked import loadray_lines

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

SCRIPT = Path(__file__).resolve().parent / "netns_running_ray.py"
UNSHARE = ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc"]


def _can_unshare() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs root, unshare and ip"
    done = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True)
    return None if done.returncode == 0 else f"cannot make namespaces: {done.stderr.strip()}"


def placement_nodes(run_dir: Path) -> set[str]:
    record = json.loads((run_dir / "samples" / "_manifest.json").read_text())["record"]
    return {p["node"] for p in record["placement"]}


def test_embedded_run_beside_a_running_ray_and_a_joined_one(tmp_path):
    reason = _can_unshare()
    if reason:
        pytest.skip(reason)
    done = subprocess.run([*UNSHARE, sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])

    embedded, joined = got["embedded"], got["joined"]
    assert embedded["rc"] in (0, 99), embedded["stderr"][-2000:]  # 99: a loaded lane missed a threshold
    assert "must not be provided" not in embedded["stderr"]
    assert loadray_lines(embedded["stderr"]) == []
    assert embedded["own_gcs_auth"] == ["token"]  # its own Ray, with token authentication
    assert got["head_node"] not in placement_nodes(tmp_path / "embedded")
    assert json.loads((tmp_path / "embedded" / "summary.json").read_text())["intended"] == 1800

    assert joined["rc"] in (0, 99), joined["stderr"][-2000:]
    assert loadray_lines(joined["stderr"]) == [
        f"loadray run: joining the Ray cluster at {got['address']} from RAY_ADDRESS (unset it for an embedded Ray)"
    ]
    assert joined["own_gcs_auth"] == []  # started no Ray of its own
    assert placement_nodes(tmp_path / "joined") == {got["head_node"]}
    assert got["head_alive_after"]  # leaving a cluster it joined never stops it
