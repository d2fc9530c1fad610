"""Run by test_multinode.py in its own process: a 3-node Ray cluster on this machine
(ray.cluster_utils.Cluster), a 3-worker run, and one generator node removed mid-run.
Given libfaketime's path, the two other nodes read their wall clocks 2 s ahead and 2 s
behind the driver's (their raylets and every worker they start). Prints one JSON line
with what the test checks."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from loadray.driver import RunOptions, run
from loadray.scenario import parse_scenario
from loadray.target import start_target
from loadray.target.options import TargetOptions

SKEWS = ("+0s", "+2s", "-2s")  # the first node is the one removed


def add_node(cluster: Cluster, skew: str, faketime: str | None):
    """A node whose raylet, and every worker it starts, reads its wall clock moved by
    ``skew`` (monotonic time left alone)."""
    saved = dict(os.environ)
    if faketime and skew != "+0s":
        os.environ.update(LD_PRELOAD=faketime, FAKETIME=skew, FAKETIME_DONT_FAKE_MONOTONIC="1")
    try:
        return cluster.add_node(num_cpus=2)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main(out: Path, faketime: str | None) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    generators = [add_node(cluster, skew, faketime) for skew in SKEWS]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    removed = []

    def remove_one():
        while not (out / "control.json").exists():
            time.sleep(0.05)
        time.sleep(3)
        cluster.remove_node(generators[0])
        removed.append((time.time(), generators[0].node_id))

    with start_target(TargetOptions()) as target:
        scenario = parse_scenario({
            "name": "multinode",
            "target": target.url,
            "workers": 3,
            "load": {"model": "open", "phases": [{"duration": "12s", "rate": 300}]},
            "requests": [{"name": "root", "path": "/"}],
            "cluster": {"worker_cpus": 0.5},
        })
        threading.Thread(target=remove_one, daemon=True).start()
        result = run(scenario, RunOptions(out=out, quiet=True, address=cluster.address))
        per_second = {int(k): v for k, v in target.stats()["per_second"].items()}
    print(json.dumps({
        "exit_code": result.exit_code,
        "summary": result.summary,
        "removed_at": removed[0][0],
        "removed_node": removed[0][1],
        "per_second": per_second,
        "skew_of_node": {g.node_id: (skew if faketime else "+0s") for g, skew in zip(generators, SKEWS)},
    }))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
