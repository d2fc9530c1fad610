import socket
import urllib.request

import numpy as np
import pytest

from loadray.errors import UsageError
from loadray.live import LiveStatus, LogHistogram, MetricsServer, Totals
from loadray.live.metrics import LATENCY_BUCKETS_S

BOUNDS = ["0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"]


def _latency(n_fast: int, n_slow: int) -> LogHistogram:
    # fast: 0.5 ms .. 40 ms spread; slow: 0.3 s and 3 s
    fast = np.linspace(500_000, 40_000_000, n_fast).astype(np.int64)
    slow = np.array([300_000_000, 3_000_000_000] * (n_slow // 2), dtype=np.int64)
    return LogHistogram.of(np.concatenate([fast, slow]))


def _status(scale: int, latency: LogHistogram) -> LiveStatus:
    return LiveStatus(
        state="running",
        target_rate=500.0,
        achieved_rate=498.5,
        in_flight=12,
        workers_alive=3,
        workers_total=3,
        totals=Totals(sent=1000 * scale, done=990 * scale, errors=7 * scale, dropped=2 * scale, lost=5 * scale),
        outcomes={"2xx": 980 * scale, "5xx": 3 * scale, "timeout": 4 * scale, "dropped": 2 * scale},
        latency=latency,
    )


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        body = resp.read().decode()
    values = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


@pytest.fixture
def server():
    s = MetricsServer(0)
    s.start()
    yield s
    s.stop()


def test_scrape_exposes_exact_values(server):
    latency = _latency(1000, 20)
    server.update(_status(1, latency))
    m = _scrape(server.port)
    assert m['loadray_requests_total{outcome="2xx"}'] == 980
    assert m['loadray_requests_total{outcome="5xx"}'] == 3
    assert m['loadray_requests_total{outcome="timeout"}'] == 4
    assert m['loadray_requests_total{outcome="dropped"}'] == 2
    assert m["loadray_target_rate"] == 500.0
    assert m["loadray_achieved_rate"] == 498.5
    assert m["loadray_workers_alive"] == 3
    assert m["loadray_in_flight"] == 12
    assert m["loadray_dropped_total"] == 2
    assert m["loadray_lost_total"] == 5
    buckets = [m[f'loadray_latency_seconds_bucket{{le="{b}"}}'] for b in BOUNDS]
    assert buckets[:-1] == [latency.count_below(b * 1e9) for b in LATENCY_BUCKETS_S]
    assert buckets[-1] == latency.count == 1020
    assert buckets == sorted(buckets)  # cumulative
    # 10 slow at 0.3 s and 10 at 3 s: all fast ones are below 0.05 s, the 0.3 s ones below 0.5 s
    assert buckets[BOUNDS.index("0.05")] == 1000
    assert buckets[BOUNDS.index("0.5")] == 1010
    assert buckets[BOUNDS.index("5.0")] == 1020
    assert m["loadray_latency_seconds_count"] == 1020
    assert m["loadray_latency_seconds_sum"] == pytest.approx(latency.total_ns / 1e9)


def test_before_any_update_everything_is_zero(server):
    m = _scrape(server.port)
    assert m["loadray_latency_seconds_count"] == 0
    assert m['loadray_latency_seconds_bucket{le="+Inf"}'] == 0
    assert m["loadray_dropped_total"] == 0 and m["loadray_workers_alive"] == 0
    assert not any(k.startswith("loadray_requests_total") for k in m)


def test_counters_grow_and_never_decrease(server):
    server.update(_status(1, _latency(100, 2)))
    first = _scrape(server.port)
    server.update(_status(3, _latency(300, 6)))
    second = _scrape(server.port)
    assert second['loadray_requests_total{outcome="2xx"}'] == 2940 > first['loadray_requests_total{outcome="2xx"}']
    assert second["loadray_dropped_total"] == 6 and second["loadray_lost_total"] == 15
    assert second["loadray_latency_seconds_count"] == 306 > first["loadray_latency_seconds_count"]
    for b in BOUNDS:
        key = f'loadray_latency_seconds_bucket{{le="{b}"}}'
        assert second[key] >= first[key]
    # a stale/smaller snapshot (e.g. out of order) never makes a counter go down; gauges follow it
    smaller = _status(2, _latency(10, 0))
    server.update(LiveStatus(**{**smaller.__dict__, "outcomes": {"4xx": 1}, "achieved_rate": 10.0}))
    third = _scrape(server.port)
    for key, value in second.items():
        if key.startswith(("loadray_requests_total", "loadray_dropped_total", "loadray_lost_total", "loadray_latency")):
            assert third[key] >= value, key
    assert third['loadray_requests_total{outcome="4xx"}'] == 1
    assert third["loadray_achieved_rate"] == 10.0


def test_port_in_use_is_a_usage_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError) as err:
            MetricsServer(port).start()
    assert str(err.value).startswith(f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in str(err.value).lower()
    assert err.value.exit_code == 2


def test_bad_port_and_host_are_usage_errors():
    with pytest.raises(UsageError, match=r"^--metrics-port 70000: cannot listen on 127.0.0.1:70000: "):
        MetricsServer(70000).start()
    with pytest.raises(UsageError, match=r"^--metrics-port 0: cannot listen on no such host:0: "):
        MetricsServer(0, host="no such host").start()


def test_stop_frees_the_port():
    server = MetricsServer(0)
    port = server.start()
    assert port > 0 and server.port == port
    _scrape(port)
    server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
    again = MetricsServer(port)  # the same port can be bound again at once
    assert again.start() == port
    again.stop()
    server.stop()  # idempotent

