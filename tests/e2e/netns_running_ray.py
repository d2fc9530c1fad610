"""Run by test_cli_running_ray.py inside its own mount, network and PID namespaces
(``unshare --mount --net --pid --fork --mount-proc``), so the ``ray start --head`` here
owns a private /tmp/ray and loopback and no other Ray on the machine sees it. Then:

- ``loadray run`` with no address: must start its own Ray beside the running one;
- ``loadray run`` with RAY_ADDRESS naming the head: must join it.

Prints one JSON line. Every process it started is ended by its environment marker (and
the PID namespace ends whatever is left when this script exits).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from marked import MARKER_ENV, kill_marked, marked, new_marker  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SHORT = ["--set", "load.phases.0.duration=1s", "--set", "load.phases.1.duration=1s",
         "--set", "load.phases.2.duration=1s", "--set", "cluster.worker_cpus=0.5"]


def private_ray_dir() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    os.makedirs("/tmp/ray", exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/tmp/ray"], check=True)


def env_with(marker: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, MARKER_ENV: marker, "PYTHONPATH": str(REPO), **extra}


def start_head(marker: str) -> str:
    subprocess.run(["ray", "start", "--head", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"],
                   env=env_with(marker), check=True, capture_output=True, timeout=180)
    return Path("/tmp/ray/ray_current_cluster").read_text().strip()


def head_node(address: str, marker: str) -> str:
    probe = f"import ray; ray.init(address={address!r}); print(ray.get_runtime_context().get_node_id())"
    done = subprocess.run([sys.executable, "-c", probe], env=env_with(marker, RAY_AUTH_MODE="token"),
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


def loadray_run(out: Path, **extra: str) -> dict:
    """A short quickstart run; what it printed, and the GCS servers it started meanwhile
    (with their RAY_AUTH_MODE)."""
    marker = new_marker()
    proc = subprocess.Popen([sys.executable, "-m", "loadray", "run", "scenarios/quickstart.yaml", "--out", str(out),
                             "--quiet", *SHORT], cwd=REPO, env=env_with(marker, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    own_gcs: dict[int, str] = {}
    while proc.poll() is None:
        for pid, cmd in marked(marker):
            if "gcs_server" in cmd and pid not in own_gcs:
                own_gcs[pid] = _auth_mode(pid)
        time.sleep(0.1)
    _, stderr = proc.communicate()
    kill_marked(marker)
    return {"rc": proc.returncode, "stderr": stderr, "own_gcs_auth": sorted(own_gcs.values())}


def _auth_mode(pid: int) -> str:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return "?"
    found = [e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"RAY_AUTH_MODE=")]
    return found[0] if found else ""


def main(workdir: Path) -> None:
    private_ray_dir()
    head = new_marker()
    try:
        address = start_head(head)
        result = {"address": address, "head_node": head_node(address, head)}
        result["embedded"] = loadray_run(workdir / "embedded")
        # Ray turns token authentication on by itself only for a cluster it finds, never
        # for an explicit address: a client joining one says so
        result["joined"] = loadray_run(workdir / "joined", RAY_ADDRESS=address, RAY_AUTH_MODE="token")
        result["head_alive_after"] = any("gcs_server" in cmd for _, cmd in marked(head))
    finally:
        for pid, _ in marked(head):
            try:
                os.kill(pid, 15)
            except OSError:
                pass
        time.sleep(1)
        kill_marked(head)
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
