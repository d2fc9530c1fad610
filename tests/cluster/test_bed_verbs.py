"""The bed does what it says: real Ray nodes on their own addresses, token auth on,
invisible to other Ray users of this machine, a recorder that counts by source, fault
verbs that cut exactly what they name, and a teardown that leaves nothing."""

from __future__ import annotations

import pytest

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import bed_netns as net
import bed_ray
from testbed import remove_stale_beds

pytestmark = pytest.mark.cluster

HERE = Path(__file__).resolve().parent


def _raylet_port(bed, i: int) -> int:
    return next(n["NodeManagerPort"] for n in bed.node_table() if n["Alive"] and n["NodeManagerAddress"] == bed.ip(i))


def _target(bed) -> tuple[str, int]:
    return (bed.network.bridge_ip, bed.recorder.port)


def _gcs(bed) -> tuple[str, int]:
    return (bed.head.ip, bed_ray.GCS_PORT)


def test_each_host_is_a_ray_node_on_its_own_address(bed):
    assert sorted(bed.nodes(alive_only=True).values()) == sorted(h.ip for h in bed.hosts)
    for h in bed.hosts:
        addrs = bed.exec(h.index, ["ip", "-o", "-4", "addr", "show"]).stdout
        assert f"inet {h.ip}/24" in addrs and addrs.count("inet ") == 2  # lo and eth0 only
    assert bed.timings["start_s"] < 120, bed.timings


def test_the_bed_is_invisible_to_other_ray_users(bed, stat_of):
    for path, before in bed.untouched_before.items():
        assert stat_of(path) == before, f"{path} was written by the bed"
    for h in bed.hosts:
        assert (bed.settings.temp_dir(h) / "ray_current_cluster").read_text().strip() == bed.address
    code = ("import ray._private.services as s; print(s.get_ray_address_from_environment(None, None))")
    env = {k: v for k, v in bed.env.items() if not k.startswith("RAY_AUTH") and k != "RAY_ADDRESS"}
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert found.returncode == 0, found.stderr
    assert bed.head.ip not in found.stdout


def test_the_root_namespace_keeps_its_forwarding_and_firewall(bed):
    assert net.root_network_settings() == bed.root_net_before


def test_token_auth_is_on_a_wrong_token_is_refused(bed, tmp_path):
    wrong = tmp_path / "wrong_token"
    wrong.write_text("0" * 64)
    code = f"import ray; ray.init(address={bed.address!r}, logging_level='ERROR'); print('joined')"
    env = dict(bed.env, RAY_AUTH_TOKEN_PATH=str(wrong))
    done = subprocess.run(bed_ray.in_netns(bed.head, [sys.executable, "-c", code]), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "joined" not in done.stdout
    assert "auth" in done.stderr.lower(), done.stderr[-1500:]
    right = subprocess.run(bed_ray.in_netns(bed.head, [sys.executable, "-c", code]), env=bed.env,
                           capture_output=True, text=True, timeout=120)
    assert right.returncode == 0 and "joined" in right.stdout, right.stderr[-1500:]


def test_recorder_counts_by_source_and_resets(bed):
    """Host 3 sends over TLS (the recorder's TLS site, its certificate checked against the
    bed's CA): counted the same."""
    def send(i: int, n: int, url: str, ca: Path | None = None) -> None:
        context = f"ssl.create_default_context(cafile={str(ca)!r})" if ca else "None"
        code = (f"import ssl, urllib.request\ncontext = {context}\nfor _ in range({n}): "
                f"urllib.request.urlopen({url + '/x'!r}, timeout=5, context=context).read()")
        done = bed.python(i, code)
        assert done.returncode == 0, done.stderr[-800:]
    t = time.time()
    send(2, 7, bed.target_url)
    send(3, 4, bed.recorder.tls_url, bed.recorder.pki.ca)
    stats = bed.recorder.stats()
    assert {src: s.total for src, s in stats.items()} == {bed.ip(2): 7, bed.ip(3): 4}
    assert all(t <= s.first <= s.last <= time.time() for s in stats.values())
    assert sum(stats[bed.ip(2)].per_second.values()) == 7
    bed.recorder.reset()
    assert bed.recorder.stats() == {}


def test_partition_cuts_ray_hosts_but_not_the_target(bed):
    h3_raylet, gcs, target = (bed.ip(3), _raylet_port(bed, 3)), _gcs(bed), _target(bed)
    h2_raylet = (bed.ip(2), _raylet_port(bed, 2))
    assert bed.reach(3, [gcs, h2_raylet, target]) == [True, True, True]
    bed.partition(3)
    assert net.FAULT_TABLE in net.nft_tables(bed.host(3))
    assert net.root_network_settings() == bed.root_net_before  # the rules live in host 3 only
    assert bed.reach(3, [gcs, h2_raylet, target], timeout=0.5) == [False, False, True]
    assert bed.reach(1, [h3_raylet], timeout=0.5) == [False]
    assert bed.reach(2, [gcs, target]) == [True, True]  # the others are untouched
    bed.heal(3)
    assert net.FAULT_TABLE not in net.nft_tables(bed.host(3))
    assert bed.reach(3, [gcs, h2_raylet, target]) == [True, True, True]
    assert bed.reach(1, [h3_raylet]) == [True]


def test_isolate_cuts_everything_heal_restores(bed):
    h3_raylet, gcs, target = (bed.ip(3), _raylet_port(bed, 3)), _gcs(bed), _target(bed)
    bed.isolate(3)
    assert bed.reach(3, [gcs, target], timeout=0.5) == [False, False]
    assert bed.reach(1, [h3_raylet], timeout=0.5) == [False]
    bed.heal(3)
    assert bed.reach(3, [gcs, target]) == [True, True]
    assert bed.reach(1, [h3_raylet]) == [True]


def _states(pids: list[int]) -> dict[int, str]:
    out = {}
    for pid in pids:
        try:
            out[pid] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            pass
    return out


def test_freeze_stops_every_process_of_the_host_thaw_resumes(bed):
    raylet = bed_ray.raylet_pids(bed.host(3))
    frozen = bed.freeze(3)
    assert raylet and set(raylet) <= set(frozen)
    assert set(frozen) == set(net.netns_pids(bed.host(3).netns))
    assert set(_states(frozen).values()) == {"T"}, _states(frozen)
    assert "T" not in _states(net.netns_pids(bed.host(2).netns)).values()
    bed.thaw(3)
    time.sleep(0.2)
    assert "T" not in _states(frozen).values(), _states(frozen)


def test_kill_raylet_ends_that_hosts_raylet_only(bed):
    others = {i: bed_ray.raylet_pids(bed.host(i)) for i in (1, 2)}
    killed = bed.kill_raylet(3)
    deadline = time.monotonic() + 5
    while any(net.pid_alive(p) for p in killed) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(net.pid_alive(p) for p in killed)
    assert bed_ray.raylet_pids(bed.host(3)) == []
    assert {i: bed_ray.raylet_pids(bed.host(i)) for i in (1, 2)} == others
    assert bed.disturbed  # the fixture restarts Ray before the next test


def _child(mode: str) -> tuple[subprocess.Popen, dict]:
    child = subprocess.Popen([sys.executable, str(HERE / "bed_child.py"), mode], stdout=subprocess.PIPE, text=True)
    return child, json.loads(child.stdout.readline())


def _leftovers(made: dict) -> list[str]:
    links = net.sh("ip", "-o", "link", "show").stdout
    left = [ns for ns in made["netns"] if ns in net.list_netns()]
    left += [name for name in [made["bridge"], *made["veths"]] if f" {name}:" in links or f" {name}@" in links]
    left += [f"pid {p}" for p in made["pids"] if net.pid_alive(p)]
    left += [made["root"]] if Path(made["root"]).exists() else []
    return left


def test_close_removes_everything_the_bed_made():
    child, made = _child("close")
    assert child.wait(60) == 0
    assert made["netns"] and made["pids"]
    assert _leftovers(made) == []


def test_a_crashed_beds_leftovers_are_removed_by_the_next_bed():
    child, made = _child("crash")  # SIGKILLs itself after building: no teardown runs
    child.wait(60)
    assert _leftovers(made) != []
    removed = remove_stale_beds()
    assert set(made["netns"]) <= set(removed)
    assert _leftovers(made) == []
