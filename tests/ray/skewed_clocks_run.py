"""Run by test_clock_skew.py in its own process: a Ray cluster on this machine of a head
(the driver, no CPU) and three generator nodes, two of them with their wall clock moved
by libfaketime (+2 s and -2 s), a 3-worker open-model run stepping 150 -> 450/s. Prints
one JSON line with what the test checks."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pyarrow.dataset as ds
import ray
from ray.cluster_utils import Cluster

from loadray.driver import RunOptions, run
from loadray.scenario import parse_scenario
from loadray.target import start_target
from loadray.target.options import TargetOptions

SKEWS = ("+0s", "+2s", "-2s")


def add_node(cluster: Cluster, skew: str, faketime: str):
    """A node whose raylet, and every worker process it starts, reads its wall clock
    moved by ``skew`` (monotonic time is left alone)."""
    saved = dict(os.environ)
    if skew != "+0s":
        os.environ.update(LD_PRELOAD=faketime, FAKETIME=skew, FAKETIME_DONT_FAKE_MONOTONIC="1")
    try:
        return cluster.add_node(num_cpus=1)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main(out: Path, faketime: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = {add_node(cluster, skew, faketime).node_id: skew for skew in SKEWS}
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    with start_target(TargetOptions()) as target:
        scenario = parse_scenario({
            "name": "skew", "target": target.url, "workers": 3,
            "load": {"model": "open", "phases": [{"duration": "3s", "rate": 150}, {"duration": "3s", "rate": 450}]},
            "requests": [{"name": "root", "path": "/"}], "cluster": {"worker_cpus": 0.5},
        })
        result = run(scenario, RunOptions(out=out, quiet=True, address=cluster.address))
        per_second = target.stats()["per_second"]
    rows = ds.dataset(out / "samples", format="parquet").to_table(columns=["worker", "intended_ns"]).to_pandas()
    spans = rows.groupby("worker")["intended_ns"].agg(["min", "max"])
    print(json.dumps({
        "exit_code": result.exit_code, "summary": result.summary, "skew_of_node": nodes,
        "per_second": per_second, "spans": {int(w): [int(a), int(b)] for w, (a, b) in spans.iterrows()},
    }))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
