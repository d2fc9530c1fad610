"""Real Ray nodes, one per namespace: ``ray start --head`` on host 1, ``ray start
--address`` on the others, token authentication on.

Ray 2.60's token auth: ``RAY_AUTH_MODE=token`` turns it on; the token is read from
``RAY_AUTH_TOKEN``, else the file ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``.
The bed writes its own token file (64 hex characters, as ``ray get-auth-token
--generate`` makes) and hands every process ``RAY_AUTH_TOKEN_PATH``, so the user's
``~/.ray/auth_token`` is neither read nor written. Each host has its own ``--temp-dir``
under the bed's directory: ``ray start`` writes the address file
``ray_current_cluster`` into that temp dir, not into /tmp/ray, so a local
``ray.init()`` elsewhere on this machine does not discover the bed (checked by a test).
Every port is Ray's default: each namespace has its own port space.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bed_netns import Host, kill_netns_processes, netns_pids, signal_pids

GCS_PORT = 6379
DASHBOARD_PORT = 8265
OBJECT_STORE_BYTES = 80 * 1024 * 1024
RAY = str(Path(sys.executable).with_name("ray"))
DROPPED_ENV = ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE")


@dataclass(frozen=True)
class RaySettings:
    root: Path  # the bed's directory: token file, per-host temp dirs, logs
    repo: Path  # put on PYTHONPATH of every Ray process and driver
    num_cpus: float = 1
    dashboard: bool = False

    @property
    def token_path(self) -> Path:
        return self.root / "auth_token"

    def temp_dir(self, h: Host) -> Path:
        return self.root / f"h{h.index}"


def dashboard_missing() -> str | None:
    """Why ``ray start --include-dashboard=true`` would fail here (plain ``ray`` lacks the
    dashboard's packages: it needs ``ray[default]``, i.e. ``pip install -e '.[cluster]'``)."""
    import ray._private.utils

    error = ray._private.utils.get_dashboard_dependency_error()
    return None if error is None else f"the dashboard needs ray[default] (pip install -e '.[cluster]'): {error}"


def write_token(s: RaySettings) -> None:
    s.token_path.write_text(secrets.token_hex(32))
    s.token_path.chmod(0o600)


def ray_env(s: RaySettings) -> dict[str, str]:
    """The environment of every Ray process and driver of the bed."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(s.token_path),
        RAY_USAGE_STATS_ENABLED="0",
        # the cluster's own S3 credentials (dummy: the bed's store is moto's) and no probe
        # of the EC2 metadata address 169.254.169.254 by the AWS SDK
        AWS_ACCESS_KEY_ID="bed-testing", AWS_SECRET_ACCESS_KEY="bed-testing", AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=os.pathsep.join([str(s.repo), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    return env


def in_netns(h: Host, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", h.netns, *argv]


def start_node(s: RaySettings, h: Host, head: Host) -> None:
    """``ray start`` inside ``h``'s namespace; returns once the node has joined."""
    args = [RAY, "start", "--node-ip-address", h.ip, "--num-cpus", f"{s.num_cpus:g}",
            "--num-gpus", "0", "--temp-dir", str(s.temp_dir(h)),
            "--object-store-memory", str(OBJECT_STORE_BYTES), "--disable-usage-stats"]
    if h == head:
        args += ["--head", "--port", str(GCS_PORT)]
        args += (["--include-dashboard=true", "--dashboard-host", h.ip, "--dashboard-port", str(DASHBOARD_PORT)]
                 if s.dashboard else ["--include-dashboard=false"])
    else:
        args += ["--address", f"{head.ip}:{GCS_PORT}"]
    log = s.root / f"ray-start-h{h.index}.log"
    with open(log, "a") as out:
        done = subprocess.run(in_netns(h, args), env=ray_env(s), stdout=out, stderr=subprocess.STDOUT,
                              timeout=120, cwd=s.root)
    if done.returncode != 0:
        raise RuntimeError(f"ray start on host {h.index} ({h.ip}) failed: see {log}:\n{log.read_text()[-2000:]}")


def stop_node(h: Host) -> None:
    """SIGKILL every process of the host's namespace (the bed's own, by PID)."""
    kill_netns_processes(h.netns)


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def raylet_pids(h: Host) -> list[int]:
    return [p for p in netns_pids(h.netns) if (cmdline(p) or [""])[0].endswith("/raylet")]


def kill_raylet(h: Host) -> list[int]:
    pids = raylet_pids(h)
    if not pids:
        raise RuntimeError(f"host {h.index}: no raylet running")
    signal_pids(pids, signal.SIGKILL)
    return pids


def marked_pids(marker: str) -> list[int]:
    """PIDs (anywhere on this machine) whose command line names ``marker`` (the bed's dir)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            if any(marker in arg for arg in cmdline(int(entry.name))):
                out.append(int(entry.name))
    return out
