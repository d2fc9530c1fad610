"""A real multi-host Ray cluster on this machine, with faults.

``TestBed(n_hosts=3).start()`` builds one network namespace per host on a bridge
(addresses in 10.77.0.0/16, made here), starts ``ray start --head`` on host 1 and
``ray start --address`` on the others with token authentication, and a recorder
target on the bridge address. Hosts are numbered from 1. Fault verbs act on one host:
``partition`` (drop packets to/from the other Ray hosts; the target stays reachable),
``cut_target`` (drop packets to/from the target only; Ray stays whole),
``isolate`` (link down), ``heal``, ``freeze``/``thaw`` (SIGSTOP/SIGCONT every process
of the namespace), ``kill_raylet``. ``run(host, args)`` starts ``python -m loadray
ARGS`` in a host's namespace with the env Ray needs. ``close()`` removes everything
the bed made (namespaces, bridge, veths, nft tables, processes by PID or by the bed's
directory in their command line) and is also registered with atexit.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import bed_netns as net
import bed_ray
from bed_recorder import Recorder

REPO = Path(__file__).resolve().parents[2]
SHORT_FAULT_S = 8.0  # a fault healed within this leaves Ray's health checks (a node is dead after 5 missed
# checks 3 s apart) and its GCS reconnection (60 s) untripped: the next test needs no restart


@dataclass
class BedRun:
    """A ``loadray`` process inside a host's namespace; output in files."""

    proc: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    started: float = field(default_factory=time.time)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


class TestBed:
    __test__ = False  # not a pytest test class

    def __init__(self, n_hosts: int = 3, num_cpus: float = 1, dashboard: bool = False,
                 with_ray: bool = True) -> None:
        self.n_hosts = n_hosts
        self.with_ray = with_ray
        self.root = Path(f"/tmp/lrtb-{os.getpid()}")
        self.settings = bed_ray.RaySettings(self.root, REPO, num_cpus, dashboard)
        self.network: net.Network | None = None
        self.recorder: Recorder | None = None
        self.runs: list[BedRun] = []
        self.faults: dict[int, tuple[str, float]] = {}  # host -> (verb, since)
        self.disturbed = False  # Ray may have lost a node: restart before the next test
        self.timings: dict[str, float] = {}
        self._nodes: list[dict] | None = None
        self._closed = False

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> "TestBed":
        if self.settings.dashboard and (missing := bed_ray.dashboard_missing()):
            raise RuntimeError(missing)
        remove_stale_beds()
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir()
        atexit.register(self.close)
        t0 = time.monotonic()
        try:
            self.network = net.create(self.n_hosts)
            self.recorder = Recorder(self.network.bridge_ip, self.root / "recorder.log")
            bed_ray.write_token(self.settings)
            self.timings["network_s"] = time.monotonic() - t0
            if self.with_ray:
                self.start_ray()
        except BaseException:
            self.close()
            raise
        self.timings["start_s"] = time.monotonic() - t0
        return self

    def start_ray(self) -> None:
        t0 = time.monotonic()
        bed_ray.start_node(self.settings, self.head, self.head)
        with ThreadPoolExecutor(len(self.hosts)) as pool:
            list(pool.map(lambda h: bed_ray.start_node(self.settings, h, self.head), self.hosts[1:]))
        self._nodes = None
        self.disturbed = False
        self.timings["ray_start_s"] = time.monotonic() - t0

    def stop_ray(self) -> None:
        for h in reversed(self.hosts):
            bed_ray.stop_node(h)

    def restart_ray(self) -> None:
        self.end_runs()
        self.heal_all()
        self.stop_ray()
        self.start_ray()

    def close(self) -> None:
        """Remove everything the bed made; safe to call twice and after a failed start."""
        if self._closed:
            return
        self._closed = True
        for r in self.runs:
            _kill(r.proc)
        if self.recorder is not None:
            self.recorder.stop()
        if self.network is not None:
            net.destroy(self.network)
        kill_marked(f"{self.root}/")
        shutil.rmtree(self.root, ignore_errors=True)
        atexit.unregister(self.close)

    def __enter__(self) -> "TestBed":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- what tests read ---------------------------------------------------------------

    @property
    def hosts(self) -> tuple[net.Host, ...]:
        assert self.network is not None, "the bed is not started"
        return self.network.hosts

    @property
    def head(self) -> net.Host:
        return self.hosts[0]

    def host(self, i: int) -> net.Host:
        return self.hosts[i - 1]

    def ip(self, i: int) -> str:
        return self.host(i).ip

    @property
    def address(self) -> str:
        """The GCS address for ``--address``."""
        return f"{self.head.ip}:{bed_ray.GCS_PORT}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.head.ip}:{bed_ray.DASHBOARD_PORT}"

    @property
    def target_url(self) -> str:
        assert self.recorder is not None
        return self.recorder.url

    @property
    def env(self) -> dict[str, str]:
        return bed_ray.ray_env(self.settings)

    # -- running things inside a host --------------------------------------------------

    def run(self, host: int, args: list[str], name: str = "loadray") -> BedRun:
        """Start ``python -m loadray ARGS`` in host ``host``'s namespace (cwd: the repo)."""
        return self.spawn(host, [sys.executable, "-m", "loadray", *map(str, args)], name)

    def spawn(self, host: int, argv: list[str], name: str) -> BedRun:
        n = len(self.runs)
        out, err = self.root / f"{name}-{n}.out", self.root / f"{name}-{n}.err"
        with open(out, "w") as o, open(err, "w") as e:
            proc = subprocess.Popen(bed_ray.in_netns(self.host(host), argv), env=self.env, cwd=REPO,
                                    stdout=o, stderr=e, stdin=subprocess.DEVNULL)
        run = BedRun(proc, out, err)
        self.runs.append(run)
        return run

    def exec(self, host: int, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(bed_ray.in_netns(self.host(host), argv), env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout)

    def python(self, host: int, code: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return self.exec(host, [sys.executable, "-c", code], timeout)

    def reach(self, host: int, addrs: list[tuple[str, int]], timeout: float = 1.0) -> list[bool]:
        """Can a process on ``host`` open a TCP connection to each ``(ip, port)`` within
        ``timeout``? (all probed at once, from one process)"""
        code = ("import json, socket, sys\nfrom concurrent.futures import ThreadPoolExecutor\n"
                "def probe(a):\n try:\n  socket.create_connection(tuple(a), %r).close(); return True\n"
                " except OSError:\n  return False\n"
                "with ThreadPoolExecutor(8) as p: print(json.dumps(list(p.map(probe, json.loads(sys.argv[1])))))"
                % timeout)
        done = self.exec(host, [sys.executable, "-c", code, json.dumps(addrs)], timeout + 30)
        if done.returncode != 0:
            raise RuntimeError(f"probe on host {host} failed: {done.stderr[-1000:]}")
        return json.loads(done.stdout)

    def node_table(self) -> list[dict]:
        """Ray's node table (``ray.nodes()``), asked from the head host; cached until Ray
        restarts."""
        if self._nodes is None:
            code = ("import json, ray; ray.init(address=%r, logging_level='ERROR');"
                    "print(json.dumps(ray.nodes(), default=str))" % self.address)
            done = self.python(1, code, 120)
            if done.returncode != 0:
                raise RuntimeError(f"ray.nodes() on the head host failed:\n{done.stderr[-2000:]}")
            self._nodes = json.loads(done.stdout.strip().splitlines()[-1])
        return self._nodes

    def nodes(self, alive_only: bool = False) -> dict[str, str]:
        """Ray nodes of this cluster (dead ones too, unless ``alive_only``) as {node id: IP}."""
        return {n["NodeID"]: n["NodeManagerAddress"] for n in self.node_table() if n["Alive"] or not alive_only}

    def node_ip(self, node_id: str) -> str:
        if node_id not in self.nodes():
            self._nodes = None  # a node that joined since the table was read
        return self.nodes()[node_id]

    def end_runs(self) -> None:
        for r in self.runs:
            _kill(r.proc)

    # -- faults ------------------------------------------------------------------------

    def partition(self, i: int) -> None:
        """Drop every packet between host ``i`` and the other Ray hosts (not the target)."""
        peers = [h.ip for h in self.hosts if h.index != i]
        net.drop_peers(self.host(i), peers)
        self._fault(i, "partition")

    def cut_target(self, i: int) -> None:
        """Drop every packet between host ``i`` and the target (the recorder); Ray unaffected."""
        assert self.recorder is not None
        net.drop_peers(self.host(i), [self.recorder.listen_ip])
        self._fault(i, "cut_target")

    def isolate(self, i: int) -> None:
        """Host ``i``'s link down: it reaches nothing, target included."""
        net.link(self.host(i), up=False)
        self._fault(i, "isolate")

    def heal(self, i: int) -> None:
        """Undo ``partition``, ``cut_target`` and ``isolate`` of host ``i``."""
        net.undrop(self.host(i))
        net.link(self.host(i), up=True)
        self._healed(i)

    def freeze(self, i: int) -> list[int]:
        """SIGSTOP every process of host ``i``'s namespace; returns their PIDs."""
        stopped: set[int] = set()
        while fresh := set(net.netns_pids(self.host(i).netns)) - stopped:
            net.signal_pids(sorted(fresh), signal.SIGSTOP)
            stopped |= fresh
        self._fault(i, "freeze")
        return sorted(stopped)

    def thaw(self, i: int) -> None:
        net.signal_pids(net.netns_pids(self.host(i).netns), signal.SIGCONT)
        self._healed(i)

    def kill_raylet(self, i: int) -> list[int]:
        pids = bed_ray.kill_raylet(self.host(i))
        self.disturbed = True
        return pids

    def heal_all(self) -> None:
        for h in self.hosts:
            self.heal(h.index)
            self.thaw(h.index)

    def _fault(self, i: int, verb: str) -> None:
        self.faults.setdefault(i, (verb, time.monotonic()))

    def _healed(self, i: int) -> None:
        fault = self.faults.pop(i, None)
        if fault and fault[0] != "cut_target" and time.monotonic() - fault[1] > SHORT_FAULT_S:
            self.disturbed = True

    # -- between tests -----------------------------------------------------------------

    def recover(self) -> None:
        """After a test: runs ended, faults healed, frozen hosts resumed."""
        if self._closed:
            return
        self.end_runs()
        if self.faults:
            self.disturbed = True  # a fault the test left in place
        self.heal_all()

    def prepare(self) -> None:
        """Before a test: Ray restarted if a fault may have cost it a node (a long fault,
        a raylet killed, a raylet gone), the recorder emptied."""
        if self.disturbed or not all(bed_ray.raylet_pids(h) for h in self.hosts):
            t0 = time.monotonic()
            self.restart_ray()
            self.timings["last_restart_s"] = time.monotonic() - t0
        assert self.recorder is not None
        self.recorder.reset()


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        except ProcessLookupError:
            pass
        proc.wait(30)


def kill_marked(marker: str) -> None:
    """SIGKILL processes whose command line names ``marker`` (a bed's directory)."""
    for _ in range(50):
        pids = bed_ray.marked_pids(marker)
        if not pids:
            return
        net.signal_pids(pids, signal.SIGKILL)
        time.sleep(0.05)


def remove_stale_beds() -> list[str]:
    """What crashed beds left (their owner PID dead): namespaces, links, processes, dirs."""
    removed = net.remove_stale()
    for d in Path("/tmp").glob(f"{net.PREFIX}-*"):
        owner = d.name.split("-")[1]
        if owner.isdigit() and not net.pid_alive(int(owner)):
            kill_marked(f"{d}/")
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
    return removed


def unavailable() -> str | None:
    """Why namespaces cannot be made here (the reason to skip), or None."""
    if os.geteuid() != 0:
        return "the cluster test bed needs root (network namespaces, veths, a bridge)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"the cluster test bed needs `{tool}` (Debian package {package}); .ci/run installs it"
    probe = f"{net.PREFIX}-{os.getpid()}-h0"
    done = net.sh("ip", "netns", "add", probe, check=False)
    if done.returncode != 0:
        return f"cannot create a network namespace here: {done.stderr.strip()}"
    net.sh("ip", "netns", "del", probe, check=False)
    return None
