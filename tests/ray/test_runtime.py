"""Starting and stopping the embedded Ray: RAY_ADDRESS policy, no process left behind,
token authentication kept, SIGTERM handler restored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadray.cluster.runtime import ray_address

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("flag, env, address, note", [
    (None, {}, None, None),
    (None, {"RAY_ADDRESS": ""}, None, None),
    ("10.77.0.1:6379", {"RAY_ADDRESS": "127.0.0.1:6379"}, "10.77.0.1:6379", None),  # --address wins
    (None, {"RAY_ADDRESS": "127.0.0.1:6379"}, "127.0.0.1:6379",
     "joining the Ray cluster at 127.0.0.1:6379 from RAY_ADDRESS (unset it for an embedded Ray)"),
    (None, {"RAY_ADDRESS": "auto"}, "auto",
     "joining the Ray cluster at auto from RAY_ADDRESS (unset it for an embedded Ray)"),
    (None, {"RAY_ADDRESS": "ray://127.0.0.1:10001"}, "ray://127.0.0.1:10001",
     "joining the Ray cluster at ray://127.0.0.1:10001 from RAY_ADDRESS (unset it for an embedded Ray)"),
    (None, {"RAY_ADDRESS": "http://127.0.0.1:8265"}, None,
     "RAY_ADDRESS=http://127.0.0.1:8265 is a Jobs API URL, not a cluster address: ignored, "
     "starting an embedded Ray (pass --address to join a cluster)"),
])
def test_ray_address_policy(flag, env, address, note):
    assert ray_address(flag, env) == (address, note)


PROBE = r"""
import json, os, signal, sys
import psutil
from loadray.cluster.runtime import OWNER_ENV, connect, marked
from loadray.reaper import carries, ours

def handler(signum, frame):
    pass

signal.signal(signal.SIGTERM, handler)
session = connect(num_cpus=1)
procs = ours(session.marker, [session.session_dir])
children = psutil.Process().children(recursive=True)
names = sorted({p.name() for p in procs})
unfound = sorted({p.name() for p in children if p not in procs and "loadray.reaper" not in " ".join(p.cmdline())})
def intact(p):  # a title (ray::DashboardAgent) is written over the start of the environment block
    return not open(f"/proc/{p.pid}/environ", "rb").read(1) == b"\0"
auth = sorted({carries(p, "RAY_AUTH_MODE=token") for p in procs if intact(p)})
kept_handler = signal.getsignal(signal.SIGTERM) is handler
marker_left_in_env = OWNER_ENV in os.environ
session.close()
left = [p.pid for p in marked(session.marker)]
status = open("/proc/self/status").read()
caught = int(status.split("SigCgt:")[1].split()[0], 16)  # what the kernel will call a handler for
print(json.dumps({"started": len(procs), "names": names, "unfound": unfound, "auth": auth, "kept_handler": kept_handler,
                  "marker_left_in_env": marker_left_in_env, "left": left,
                  "sigterm_caught_after_close": bool(caught >> (signal.SIGTERM - 1) & 1)}))
"""


def test_embedded_ray_is_stopped_with_every_process_it_started(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=180, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["started"] >= 3 and {"gcs_server", "raylet", "ray::DashboardAgent"} <= set(got["names"])
    assert got["unfound"] == []  # every process Ray started is found (the reaper's own is not Ray's)
    assert got["auth"] == [True]  # Ray's token authentication stays on, in every process
    assert got["kept_handler"] and not got["marker_left_in_env"]
    assert got["left"] == []  # gone when close() returns
    # Ray's shutdown resets SIGTERM to the default action in C; the Python handler is back
    assert got["sigterm_caught_after_close"]


def test_a_ray_already_initialised_in_the_process_is_reused_and_left_running(ray_local):
    from loadray.cluster.runtime import connect

    session = connect(num_cpus=1)
    assert not session.owned and session.marker is None
    session.close()
    assert ray_local.is_initialized()


JOIN = r"""
import socket, sys, time
from loadray.cluster.runtime import connect
from loadray.errors import ClusterError
silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen(16)  # takes TCP connections, never speaks Ray
address = f"127.0.0.1:{silent.getsockname()[1]}"
started = time.monotonic()
try:
    connect(address, timeout_s=3)
except ClusterError as exc:
    print(f"{time.monotonic() - started:.1f}", str(exc).replace(address, "ADDR"))
"""


def test_an_address_that_is_not_a_ray_cluster_fails_within_the_join_timeout():
    started = __import__("time").monotonic()
    done = subprocess.run([sys.executable, "-c", JOIN], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
    seconds, line = done.stdout.strip().split(" ", 1)
    assert 2.9 <= float(seconds) < 6, done.stderr[-2000:]
    assert line == ("--address ADDR: no Ray cluster answered within 3 s (is it the head node's GCS address, "
                    "host:6379, and is the cluster up?)")
    assert done.returncode == 0 and __import__("time").monotonic() - started < 30  # and the process exits
