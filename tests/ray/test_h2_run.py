"""scenarios/http2.yaml on a local Ray against the built-in target (HTTP/2 on its one
port): the truth checks of HTTP/1.1 runs, and the connections counted at the target."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

from loadray.driver import RunOptions, run
from loadray.scenario import load_scenario

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "http2.yaml"


def test_http2_scenario_counts_latency_accounting_and_connections(ray_local, builtin_target, tmp_path):
    target = builtin_target(latency_s=0.020)
    scenario = load_scenario(SCENARIO, [f"target={target.url}", "cluster.worker_cpus=0.5",
                                        "load.phases.0.duration=4s", "load.phases.0.rate=400"])
    result = run(scenario, RunOptions(out=tmp_path / "h2", quiet=True))
    s = result.summary
    assert result.exit_code == 0, s["thresholds"]
    table = ds.dataset(result.run_dir / "samples", format="parquet").to_table().to_pandas()
    stats = target.stats()
    assert s["intended"] == 1600 == s["sent"] + s["dropped"] and s["dropped"] == 0
    assert s["ok"] == 1600 and s["errors"] == 0 and len(table) == 1600
    assert stats["requests"] == len(table)  # counts at the target = rows
    assert 20.0 <= s["latency_ms"]["p50"] <= 25.0
    assert stats["h2"]["connections_total"] == 4  # 2 workers x http.connections 2, for the whole run
    assert (table["ttfb_ns"] >= 20_000_000).all() and (table["chunks"] == 1).all()
    print(f"HTTP/2 400/s 4 s: p50 {s['latency_ms']['p50']} ms p99 {s['latency_ms']['p99']} ms, "
          f"target h2 {stats['h2']}")
