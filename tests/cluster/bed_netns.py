"""The bed's network: one namespace per host, veth pairs onto a bridge the bed owns.

Every name carries the owner's PID (``lrtb-<pid>-h<i>`` namespaces, ``lrtb<pid>``
bridge, ``lrtb<pid>h<i>`` root-side veths), so leftovers of a crashed run are found by
name and removed only when that PID is dead. Each bed takes its own /24 inside
10.77.0.0/16 (the first one no interface of the root namespace uses yet), so two
beds on one machine (a developer's and CI's) never share a subnet. The root
namespace's firewall and forwarding settings are left as they are: hosts talk through
the bridge (layer 2), no routing is needed.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PREFIX = "lrtb"
SUPERNET = ipaddress.ip_network("10.77.0.0/16")
LOCK = Path("/tmp/lrtb.lock")
FAULT_TABLE = "lrtb_fault"
NS_RE = re.compile(rf"^{PREFIX}-(\d+)-h\d+$")
LINK_RE = re.compile(rf"^{PREFIX}(\d+)(h\d+)?$")


class NetError(RuntimeError):
    pass


def sh(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise NetError(f"{' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


def pid_alive(pid: int) -> bool:
    """A process that exists and is not a zombie (an ended child not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@dataclass(frozen=True)
class Host:
    index: int  # 1-based
    netns: str
    veth: str  # root-side end, on the bridge; the namespace's end is eth0
    ip: str


@dataclass(frozen=True)
class Network:
    owner: int
    bridge: str
    bridge_ip: str
    prefixlen: int
    hosts: tuple[Host, ...]


@contextmanager
def _locked():
    with open(LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _free_subnet() -> ipaddress.IPv4Network:
    used = set()
    for line in sh("ip", "-o", "-4", "addr", "show").stdout.splitlines():
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", line)
        if m and ipaddress.ip_address(m.group(1)) in SUPERNET:
            used.add(ipaddress.ip_network(f"{m.group(1)}/24", strict=False))
    for subnet in SUPERNET.subnets(new_prefix=24):
        if subnet not in used:
            return subnet
    raise NetError("no free /24 left in 10.77.0.0/16")


def create(n_hosts: int, owner: int | None = None) -> Network:
    """Bridge + ``n_hosts`` namespaces with ``lo`` and ``eth0`` up; all or nothing."""
    owner = owner or os.getpid()
    bridge = f"{PREFIX}{owner}"
    with _locked():
        subnet = _free_subnet()
        base = subnet.network_address
        net = Network(owner, bridge, str(base + 1), subnet.prefixlen, tuple(
            Host(i, f"{PREFIX}-{owner}-h{i}", f"{PREFIX}{owner}h{i}", str(base + 10 + i))
            for i in range(1, n_hosts + 1)
        ))
        try:
            sh("ip", "link", "add", bridge, "type", "bridge")
            sh("ip", "addr", "add", f"{net.bridge_ip}/{net.prefixlen}", "dev", bridge)
            sh("ip", "link", "set", bridge, "up")
            for h in net.hosts:
                _add_host(net, h)
        except Exception:
            destroy(net)
            raise
    return net


def _add_host(net: Network, h: Host) -> None:
    sh("ip", "netns", "add", h.netns)
    sh("ip", "link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.netns)
    sh("ip", "link", "set", h.veth, "master", net.bridge, "up")
    sh("ip", "-n", h.netns, "link", "set", "lo", "up")
    sh("ip", "-n", h.netns, "addr", "add", f"{h.ip}/{net.prefixlen}", "dev", "eth0")
    sh("ip", "-n", h.netns, "link", "set", "eth0", "up")


def netns_pids(netns: str) -> list[int]:
    done = sh("ip", "netns", "pids", netns, check=False)
    return [int(p) for p in done.stdout.split()] if done.returncode == 0 else []


def signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_netns_processes(netns: str, timeout_s: float = 10.0) -> None:
    """SIGKILL every process inside ``netns`` (they are the bed's by construction)."""
    deadline = time.monotonic() + timeout_s
    while pids := netns_pids(netns):
        signal_pids(pids, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise NetError(f"processes {pids} in {netns} survive SIGKILL")
        time.sleep(0.05)


def destroy(net: Network) -> None:
    """Remove every namespace, veth and the bridge of ``net``; ends their processes."""
    for h in net.hosts:
        remove_netns(h.netns)
        sh("ip", "link", "del", h.veth, check=False)
    sh("ip", "link", "del", net.bridge, check=False)


def remove_netns(netns: str) -> None:
    if netns in list_netns():
        kill_netns_processes(netns)
        sh("ip", "netns", "del", netns, check=False)


def list_netns() -> list[str]:
    return [line.split()[0] for line in sh("ip", "netns", "list").stdout.splitlines() if line.strip()]


def _links() -> list[str]:
    out = sh("ip", "-o", "link", "show").stdout.splitlines()
    return [line.split(":")[1].strip().split("@")[0] for line in out]


def remove_stale() -> list[str]:
    """Namespaces, veths and bridges of beds whose owner PID is dead; returns their names."""
    removed = []
    for ns in list_netns():
        m = NS_RE.match(ns)
        if m and not pid_alive(int(m.group(1))):
            remove_netns(ns)
            removed.append(ns)
    for link in sorted(_links(), key=lambda name: "h" not in name[len(PREFIX):]):  # veths first
        m = LINK_RE.match(link)
        if m and not pid_alive(int(m.group(1))):
            sh("ip", "link", "del", link, check=False)
            removed.append(link)
    return removed


def root_network_settings() -> dict[str, str]:
    """The root namespace's forwarding switches and firewall ruleset (the bed leaves them)."""
    keys = ("net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding")
    out = {k: Path("/proc/sys/" + k.replace(".", "/")).read_text().strip() for k in keys}
    out["nft ruleset"] = sh("nft", "list", "ruleset", check=False).stdout
    return out


# -- faults ----------------------------------------------------------------------------

def drop_peers(h: Host, peers: list[str]) -> None:
    """nftables in ``h``'s namespace: drop every packet to or from ``peers``."""
    sets = "{ " + ", ".join(peers) + " }"
    rules = (
        f"table inet {FAULT_TABLE} {{\n"
        f"  chain in {{ type filter hook input priority -10; policy accept; ip saddr {sets} drop; }}\n"
        f"  chain out {{ type filter hook output priority -10; policy accept; ip daddr {sets} drop; }}\n"
        f"}}\n"
    )
    subprocess.run(["ip", "netns", "exec", h.netns, "nft", "-f", "-"], input=rules, text=True,
                   check=True, capture_output=True, timeout=30)


def undrop(h: Host) -> None:
    sh("ip", "netns", "exec", h.netns, "nft", "delete", "table", "inet", FAULT_TABLE, check=False)


def link(h: Host, up: bool) -> None:
    sh("ip", "-n", h.netns, "link", "set", "eth0", "up" if up else "down")


def nft_tables(h: Host) -> str:
    return sh("ip", "netns", "exec", h.netns, "nft", "list", "tables").stdout
