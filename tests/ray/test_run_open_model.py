"""Whole runs on a local Ray against the built-in target: counts, spacing, percentiles."""

from __future__ import annotations

import numpy as np
import pyarrow.dataset as ds
import pytest

import helpers
from loadray.driver import RunOptions, run

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')


def scenario(url, phases, workers=2, http=None, thresholds=(), name="t"):
    return helpers.scenario(url, phases, workers, name=name, thresholds=list(thresholds),
                            cluster={"worker_cpus": 0.5}, **({"http": http} if http else {}))


def rows(run_dir):
    return ds.dataset(run_dir / "samples", format="parquet").to_table().to_pandas()


def test_1000_rps_for_10s_on_two_workers(ray_local, builtin_target, tmp_path):
    target = builtin_target(latency_s=0.020)
    result = run(
        scenario(target.url, [{"duration": "10s", "rate": 1000}], thresholds=["p50 < 25ms"]),
        RunOptions(out=tmp_path / "run", quiet=True),
    )
    s = result.summary
    assert s["intended"] == 10000 and s["dropped"] == 0 and s["sent"] == 10000
    assert s["ok"] == 10000 and s["errors"] == 0
    assert 20.0 <= s["latency_ms"]["p50"] <= 25.0
    assert s["rate"] == pytest.approx(1000, rel=0.01)
    assert result.exit_code == 0

    stats = target.stats()
    assert stats["requests"] == pytest.approx(10000, rel=0.005)
    per_second = [n for _, n in sorted(stats["per_second"].items(), key=lambda kv: int(kv[0]))]
    full_seconds = per_second[1:-1]  # the first and last epoch seconds are partial
    print(f"server arrivals per second {per_second}; latency p50 {s['latency_ms']['p50']} ms "
          f"p99 {s['latency_ms']['p99']} ms; service p50 {s['service_ms']['p50']} ms; "
          f"send lag p99 {s['send_lag_ms']['p99']} ms")
    assert len(full_seconds) >= 8
    assert all(950 <= n <= 1050 for n in full_seconds), per_second

    table = rows(result.run_dir)
    assert len(table) == 10000
    assert sorted(table.worker.unique()) == [0, 1]
    # the two workers interleave: the merged schedule is evenly spaced at 1 ms (each
    # worker anchors its monotonic clock to the epoch on its own: a few us apart)
    gaps = np.diff(np.sort(table.intended_ns.to_numpy()))
    assert gaps.min() >= 990_000 and gaps.max() <= 1_010_000


def test_stall_shows_in_latency_not_in_service_time(ray_local, builtin_target, tmp_path):
    """200 req/s, cap 10 in flight: a 500 ms stall queues ~90 requests in the generator."""
    target = builtin_target(latency_s=0.005, stall_every_s=2.0, stall_for_s=0.5)
    result = run(
        scenario(
            target.url,
            [{"duration": "3s", "rate": 200}],
            workers=1,
            http={"max_in_flight": 10, "when_full": "queue"},
        ),
        RunOptions(out=tmp_path / "run", quiet=True),
    )
    table = rows(result.run_dir)
    assert len(table) == 600 and result.summary["dropped"] == 0
    latency_ms = table.latency_ns / 1e6
    service_ms = table.service_ns / 1e6
    print(f"stall: latency max {latency_ms.max():.1f} ms, service max {service_ms.max():.1f} ms")
    # corrected latency sees the whole stall...
    assert 450 <= latency_ms.max() <= 600
    # ...requests that waited in the generator were served quickly once sent
    queued = table[(table.sent_ns - table.intended_ns) > 20_000_000]
    assert len(queued) >= 50
    assert (queued.service_ns / 1e6).median() < 30
    assert (latency_ms[queued.index] > service_ms[queued.index] + 20).all()
    # and the ones sent into the stall carry it in their service time, bounded by it
    assert service_ms.max() <= 560


def test_drop_mode_accounts_for_every_intended_request(ray_local, builtin_target, tmp_path):
    target = builtin_target(latency_s=0.005, stall_every_s=1.0, stall_for_s=0.5)
    result = run(
        scenario(
            target.url,
            [{"duration": "2s", "rate": 400}],
            workers=2,
            http={"max_in_flight": 5, "when_full": "drop"},
        ),
        RunOptions(out=tmp_path / "run", quiet=True),
    )
    s = result.summary
    assert s["intended"] == 800
    assert s["intended"] == s["sent"] + s["dropped"]
    assert s["dropped"] >= 50
    assert s["errors_by_kind"]["dropped"] == s["dropped"]
    assert target.stats()["requests"] == s["sent"]


def test_failed_threshold_gives_exit_99(ray_local, builtin_target, tmp_path):
    target = builtin_target(latency_s=0.030)
    result = run(
        scenario(target.url, [{"duration": "1s", "rate": 100}], thresholds=["p50 < 10ms", "error_rate < 1%"]),
        RunOptions(out=tmp_path / "run", quiet=True),
    )
    verdicts = {t["expr"]: t["passed"] for t in result.summary["thresholds"]}
    assert verdicts == {"p50 < 10ms": False, "error_rate < 1%": True}
    assert result.exit_code == 99


def test_refused_connections_become_rows(ray_local, tmp_path):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = run(
        scenario(f"http://127.0.0.1:{port}", [{"duration": "1s", "rate": 50}], workers=1),
        RunOptions(out=tmp_path / "run", quiet=True),
    )
    s = result.summary
    assert s["intended"] == 50 and s["errors"] == 50 and s["ok"] == 0
    assert s["errors_by_kind"] == {"connect_refused": 50}
