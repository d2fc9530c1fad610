"""Thresholds scoped to one step, end to end: ``loadray run`` against the built-in target
(250 ms per response, no jitter) with a flow of two steps, ``home`` (one response: ~250 ms)
and ``slow`` (``/redirect/4`` followed: five responses, never under 1250 ms). ``p99{step=shop/home} <
1s`` passes (a loaded CI lane once stalled 60 flows' slowest by ~400 ms: 140 ms on 30 ms was too near), the same bound on ``shop/slow`` fails: exit 99, and each value is numpy's
p99 over that step's archived rows. ``loadray validate`` accepts a scoped rule that acts
live (abort_on_fail, a breaker) and refuses an unknown step, or a scoped live rule on a
metric not measured live, with one line (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.dataset as ds
import pytest
import yaml

LATENCY_MS = 250
SCENARIO = {
    "name": "steps",
    "target": {"builtin": {"latency": f"{LATENCY_MS}ms", "jitter": "0ms"}},
    "workers": 1,
    "load": {"phases": [{"duration": "3s", "rate": 20}]},
    "http": {"redirects": 4},
    "flows": [{"name": "shop", "steps": [{"name": "home", "path": "/"}, {"name": "slow", "path": "/redirect/4"}]}],
    "thresholds": ["p99{step=shop/home} < 1s", {"threshold": "p99 < 1s", "step": "shop/slow"},
                   "error_rate{step=shop/slow} < 1%"],
    "cluster": {"worker_cpus": 0.25},
}


def write(tmp_path, **changes):
    path = tmp_path / "steps.yaml"
    path.write_text(yaml.safe_dump({**SCENARIO, **changes}))
    return path


def p99_by_step(run_dir) -> dict[str, float]:
    t = ds.dataset(run_dir / "samples", format="parquet").to_table(columns=["step", "latency_ns", "error"]).to_pandas()
    done = t[t["latency_ns"].notna() & t["error"].astype(object).ne("cut")]  # completed, as the summary counts
    return {step: round(float(np.percentile(g["latency_ns"].astype("int64"), 99)) / 1e6, 3)
            for step, g in done.groupby("step", observed=True)}


@pytest.mark.ray
def test_one_step_threshold_passes_the_other_fails_with_exit_99(cli, tmp_path):
    run_dir = tmp_path / "run"
    done = cli("run", write(tmp_path), "--out", run_dir, "--quiet", timeout=300)
    assert done.returncode == 99, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    steps = summary["steps"]
    assert steps["shop/home"]["count"] == 60, steps  # 3 s at 20 flows/s
    assert steps["shop/slow"]["ok"] >= 45, steps  # redirects followed: one row a step (its last ~0.5 s may be cut)
    assert steps["shop/slow"]["errors"] == 0, steps
    home, slow, errors = summary["thresholds"]
    assert [r["expr"] for r in (home, slow, errors)] == [
        "p99{step=shop/home} < 1s", "p99{step=shop/slow} < 1s", "error_rate{step=shop/slow} < 1%"]
    assert [r["passed"] for r in (home, slow, errors)] == [True, False, True], summary["thresholds"]
    assert [r["step"] for r in (home, slow, errors)] == ["shop/home", "shop/slow", "shop/slow"]
    exact = p99_by_step(run_dir)
    assert home["value"] == exact["shop/home"] == summary["steps"]["shop/home"]["latency_ms"]["p99"]
    assert slow["value"] == exact["shop/slow"] == summary["steps"]["shop/slow"]["latency_ms"]["p99"]
    assert LATENCY_MS <= home["value"] < 1000 <= 5 * LATENCY_MS <= slow["value"]
    assert errors["value"] == 0.0
    assert "✗ p99{step=shop/slow} < 1s" in done.stdout
    assert "p99{step=shop/slow} &lt; 1s" in (run_dir / "report.html").read_text()
    again = cli("report", run_dir)  # rebuilt from the archive alone: the same verdicts
    assert again.returncode == 99, again.stderr[-2000:]  # the run's own verdict, from the archive alone
    assert "✗ p99{step=shop/slow} < 1s" in again.stdout
    assert json.loads((run_dir / "summary.json").read_text())["thresholds"] == summary["thresholds"]


@pytest.mark.parametrize(
    "changes, line",
    [
        ({"thresholds": ["p99 < 1s", "p99{step=home} < 1s"]},
         "thresholds[1]: unknown step 'home' (the steps are: shop/home, shop/slow)"),
        ({"thresholds": [{"threshold": "p99 < 1s", "step": "shop/hme"}]},
         "thresholds[0].step: unknown step 'shop/hme' (the steps are: shop/home, shop/slow)"),
        ({"thresholds": [{"threshold": "cut{step=shop/home} < 1", "abort_on_fail": True}]},
         "thresholds[0]: metric 'cut' cannot be judged live (it is known only once the run has stopped): "
         "abort_on_fail cannot stop the run on it; keep it without abort_on_fail"),
        ({"abort_when": ["error_rate{step=shop/hme} > 50% for 5s"]},
         "abort_when[0]: unknown step 'shop/hme' (the steps are: shop/home, shop/slow)"),
        ({"thresholds": ["flow_error_rate{step=shop/home} < 1%"]},
         "thresholds[0]: flow_error_rate cannot be scoped to a step: it counts flow instances, not a step's "
         "requests (use error_rate{step=NAME})"),
    ],
)
def test_validate_refuses_a_scoped_threshold_it_cannot_judge_in_one_line(cli, tmp_path, changes, line):
    done = cli("validate", write(tmp_path, **changes))
    assert (done.returncode, done.stderr.strip()) == (2, f"loadray validate: error: {line}")


def test_validate_accepts_scoped_live_rules(cli, tmp_path):
    done = cli("validate", write(tmp_path, thresholds=[{"threshold": "p99{step=shop/slow} < 1s", "abort_on_fail": True,
                                                        "delay": "2s"}],
                                 abort_when=["error_rate{step=shop/home} > 50% for 5s"]))
    assert done.returncode == 0, done.stderr
