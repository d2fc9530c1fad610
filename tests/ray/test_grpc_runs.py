"""gRPC runs on the shared local Ray (num_cpus=2, workers of half a CPU) against the
built-in gRPC target in its own process: the acceptance of issue 14 part 1 and the
scenarios grpc-unary and grpc-stream."""

from __future__ import annotations

from pathlib import Path

import helpers
import pyarrow.dataset as ds
import pytest

from loadray.driver import RunOptions, run
from loadray.scenario import load_scenario
from loadray.target.grpc_server import PROTO, grpc_stats

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
MS = 1_000_000


def rows(run_dir):
    table = ds.dataset(run_dir / "samples", format="parquet").to_table().to_pandas()
    for column in ("step", "error"):
        table[column] = table[column].astype(object)
    return table


def accounted(s: dict) -> bool:
    """The accounting identity: intended = sent + dropped, sent = ok + errors + cut."""
    return s["intended"] == s["sent"] + s["dropped"] and s["sent"] == s["ok"] + s["errors"] + s["cut"]


def grpc_scenario(address: str, method: str, message: dict, phases: list, **extra):
    step = {"name": method.lower(), "grpc": {"proto": str(PROTO), "service": "loadray.target.Target",
                                             "method": method, "message": message, "address": address}}
    return helpers.scenario(f"http://{address}", phases, 2, requests=[step], cluster={"worker_cpus": 0.5}, **extra)


def test_unary_1000_calls_per_s_for_10s_on_two_workers(ray_local, builtin_target, tmp_path):
    target = builtin_target(latency_s=0.020, grpc_port=0)
    scn = grpc_scenario(target.grpc_address, "Unary", {"text": "x"}, [{"duration": "10s", "rate": 1000}])
    result = run(scn, RunOptions(out=tmp_path / "unary", quiet=True))
    s = result.summary
    calls = grpc_stats(target.grpc_address)["calls"]
    print(f"gRPC unary 1000/s x 10 s: target counted {calls}; ok {s['ok']} errors {s['errors']} "
          f"{s.get('errors_by_kind')}; latency p50 {s['latency_ms']['p50']} p99 {s['latency_ms']['p99']} ms; "
          f"service p50 {s['service_ms']['p50']} ms; send lag p99 {s['send_lag_ms']['p99']} ms; rate {s['rate']}")
    assert s["intended"] == 10000 == s["sent"] and s["dropped"] == 0 and accounted(s)
    assert calls == 10000 and s["ok"] == 10000
    assert 20.0 <= s["latency_ms"]["p50"] <= 25.0
    table = rows(result.run_dir)
    assert len(table) == 10000 and set(table["status"]) == {0} and set(table["chunks"]) == {1}


def test_stream_of_10_messages_5ms_apart_ttfb_5ms_total_50ms(ray_local, builtin_target, tmp_path):
    target = builtin_target(grpc_port=0)
    message = {"text": "s", "count": 10, "interval_ms": 5}
    scn = grpc_scenario(target.grpc_address, "Stream", message, [{"duration": "4s", "rate": 50}])
    result = run(scn, RunOptions(out=tmp_path / "stream", quiet=True))
    s = result.summary
    table = rows(result.run_dir)
    ttfb, total = table["ttfb_ns"].median() / MS, table["service_ns"].median() / MS
    print(f"gRPC stream 10 x 5 ms: ttfb p50 {ttfb:.2f} ms, total p50 {total:.2f} ms")
    assert s["ok"] == 200 and accounted(s) and set(table["chunks"]) == {10}
    assert grpc_stats(target.grpc_address)["messages"] == 2000
    assert 3 <= ttfb <= 7 and 48 <= total <= 55  # 52.1 ms twice on a loaded lane


def test_grpc_unary_scenario_runs_as_is(ray_local, builtin_target, tmp_path):
    target = builtin_target(latency_s=0.020, grpc_port=0)
    sets = ["cluster.worker_cpus=0.5", "load.phases.0.duration=2s", f"target={target.url}",
            f"requests.0.grpc.address={target.grpc_address}"]
    result = run(load_scenario(SCENARIOS / "grpc-unary.yaml", sets), RunOptions(out=tmp_path / "gu", quiet=True))
    s = result.summary
    assert result.exit_code == 0, s["thresholds"]
    assert s["intended"] == 400 == s["ok"] and grpc_stats(target.grpc_address)["calls"] == 400


def test_grpc_stream_scenario_mixes_grpc_and_http_steps(ray_local, builtin_target, tmp_path):
    target = builtin_target(latency_s=0.005, grpc_port=0)
    sets = ["cluster.worker_cpus=0.5", "load.phases.0.duration=2s", f"target={target.url}",
            f"flows.0.steps.0.grpc.address={target.grpc_address}"]
    result = run(load_scenario(SCENARIOS / "grpc-stream.yaml", sets), RunOptions(out=tmp_path / "gs", quiet=True))
    s = result.summary
    assert result.exit_code == 0, s["thresholds"]
    table = rows(result.run_dir)
    assert table["step"].value_counts().to_dict() == {"watch/stream": 100, "watch/report": 100}
    assert table["error"].isna().all()
    ids = target.stats()["ids"]  # every flow's HTTP step carried its own stream's call id
    assert len(ids) == 100 and set(ids.values()) == {1} and all(i.startswith("c") for i in ids)
