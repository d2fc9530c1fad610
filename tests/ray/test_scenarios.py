"""Every scenario in scenarios/ runs as-is (short durations via overrides), and the
flow acceptance runs of issue 4, on the shared local Ray."""

from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pytest

from loadray.driver import RunOptions, run
from loadray.scenario import load_scenario, parse_scenario

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SMALL = "cluster.worker_cpus=0.5"


def rows(run_dir):
    table = ds.dataset(run_dir / "samples", format="parquet").to_table().to_pandas()
    for column in ("step", "error"):
        table[column] = table[column].astype(object)
    return table


def run_file(name, tmp_path, *overrides, url=None):
    sets = [SMALL, *overrides] + ([f"target={url}"] if url else [])
    scenario = load_scenario(SCENARIOS / name, sets)
    return run(scenario, RunOptions(out=tmp_path / name.replace(".yaml", ""), quiet=True))


@pytest.mark.parametrize(
    "name, overrides, intended",
    [
        ("quickstart.yaml", ["load.phases.0.duration=1s", "load.phases.1.duration=1s", "load.phases.2.duration=1s"], 1800),
        ("ramp.yaml", ["load.phases.0.duration=2s", "load.phases.1.duration=1s"], 1600),
        ("steps.yaml", ["load.phases.0.every=1s", "load.phases.0.times=3", "thresholds.2=rate > 150"], 600),
    ],
)
def test_open_model_scenarios_run_as_is(ray_local, tmp_path, name, overrides, intended):
    result = run_file(name, tmp_path, *overrides)
    s = result.summary
    assert result.exit_code == 0, s["thresholds"]
    assert s["intended"] == intended == s["sent"] + s["dropped"]
    if name == "steps.yaml":  # the 3:1 mix is exact over the global schedule
        counts = rows(result.run_dir)["step"].value_counts().to_dict()
        assert counts == {"browse": 450, "search": 150}


def test_checkout_flow_for_10s_no_401_steps_in_order(ray_local, builtin_target, tmp_path):
    target = builtin_target(latency_s=0.01, jitter_s=0.005)
    result = run_file("checkout-flow.yaml", tmp_path, "load.phases.0.duration=10s", url=target.url)
    s = result.summary
    assert result.exit_code == 0
    flows = target.stats()
    assert flows["unauthorized"] == 0 and flows["flows_in_order"] == 500
    assert s["intended"] == 1500 and s["errors"] == 0
    assert set(s["steps"]) == {"checkout/login", "checkout/order", "checkout/pay"}
    for step in s["steps"].values():
        assert step["count"] == 500 and {"p50", "p99", "max"} <= set(step["latency_ms"])
    assert s["flows"]["checkout"]["count"] == 500 and s["flows"]["checkout"]["ok"] == 500
    table = rows(result.run_dir)
    order = table.sort_values("sent_ns").groupby("flow_id")["step"].agg(list)
    assert (order.map(tuple) == ("checkout/login", "checkout/order", "checkout/pay")).all()
    assert len(order) == 500
    print(f"checkout 10 s at 50 flows/s: flow p50 {s['flows']['checkout']['flow_ms']['p50']} ms "
          f"p99 {s['flows']['checkout']['flow_ms']['p99']} ms; steps p99 "
          f"{ {k: v['latency_ms']['p99'] for k, v in s['steps'].items()} }")


def test_closed_model_10_users_100ms_think_50ms_server(ray_local, builtin_target, tmp_path):
    target = builtin_target(latency_s=0.05)
    doc = {
        "name": "closed", "target": target.url, "workers": 2, "cluster": {"worker_cpus": 0.5},
        "load": {"model": "closed", "think": "100ms", "phases": [{"duration": "10s", "users": 10}]},
        "requests": [{"name": "root", "path": "/"}],
    }
    result = run(parse_scenario(doc), RunOptions(out=tmp_path / "closed", quiet=True))
    s = result.summary
    expected = 10 / 0.15
    print(f"closed model: {s['rate']} req/s (expected {expected:.1f}); p50 {s['latency_ms']['p50']} ms")
    assert s["rate"] == pytest.approx(expected, rel=0.05)
    table = rows(result.run_dir)
    assert sorted(table["user"].unique()) == list(range(10))
    assert set(table.groupby("user")["worker"].nunique()) == {1}  # a user lives on one worker
    assert table.groupby("worker")["user"].nunique().to_dict() == {0: 5, 1: 5}


def run_unique_ids(url, tmp_path, rows, duration, rate):
    """2 workers send /id?value=ID for each row of a unique feeder (stop_run, the default)."""
    data = tmp_path / "ids.csv"
    data.write_text("id\n" + "\n".join(f"id-{i:04d}" for i in range(rows)) + "\n")
    doc = {
        "name": "unique", "target": url, "workers": 2, "cluster": {"worker_cpus": 0.5},
        "load": {"phases": [{"duration": duration, "rate": rate}]},
        "feeders": [{"name": "ids", "file": str(data), "mode": "unique"}],
        "requests": [{"name": "id", "path": "/id", "query": {"value": "{{ ids.id }}"}}],
    }
    return run(parse_scenario(doc), RunOptions(out=tmp_path / "unique", quiet=True))


def test_unique_feeder_1000_rows_two_workers_no_reuse(ray_local, builtin_target, tmp_path):
    target = builtin_target()
    result = run_unique_ids(target.url, tmp_path, 1000, "5s", 200)
    ids = target.stats()["ids"]
    assert len(ids) == 1000 and set(ids.values()) == {1}
    assert result.summary["ok"] == 1000


def test_retries_scenario_every_request_succeeds_on_its_third_attempt(ray_local, builtin_target, tmp_path):
    target = builtin_target()
    result = run_file("retries.yaml", tmp_path, "load.phases.0.duration=3s", url=target.url)
    s = result.summary
    table = rows(result.run_dir)
    assert s["retries"] == 120 and table["attempt"].value_counts().to_dict() == {1: 60, 2: 60, 3: 60}
    finals = table[table["attempt"] == 3]
    assert finals["error"].isna().all() and (finals["status"] == 200).all()
    assert s["errors"] == 120  # the failed attempts stay errors in the summary...
    assert result.exit_code == 0 and s["thresholds"][1]["value"] == 0.0  # ...but no flow failed
    assert target.stats()["statuses"] == {"200": 60, "503": 120}


def test_exhausted_stop_run_feeder_stops_the_whole_run(ray_local, builtin_target, tmp_path):
    target = builtin_target()
    result = run_unique_ids(target.url, tmp_path, 100, "60s", 100)
    s = result.summary
    assert result.exit_code == 0
    assert s["ok"] == 100 and set(target.stats()["ids"].values()) == {1}
    assert s["duration_s"] < 5  # not 60: the first worker to run out stopped everyone
    assert any("feeder 'ids' ran out" in w for w in s["warnings"])


def test_closed_users_scenario_runs_as_is(ray_local, tmp_path):
    result = run_file("closed-users.yaml", tmp_path, "load.phases.0.duration=2s", "load.phases.1.duration=2s")
    s = result.summary
    assert result.exit_code == 0 and s["errors"] == 0
    table = rows(result.run_dir)
    # 10 users, then a ramp 10 -> 30 over 2 s: users 10..29 join one by one
    assert set(table["user"]) <= set(range(30)) and set(range(10)) <= set(table["user"])
    # every session check passed: each user's cookie jar carried its own cookie
    assert s["steps"]["browse/account"]["ok"] == s["steps"]["browse/account"]["count"] > 0
    assert (table.groupby("flow_id")["user"].nunique() == 1).all()
