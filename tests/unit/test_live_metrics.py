import math
import socket
import threading
import time
import urllib.request

import numpy as np
import pyarrow as pa
import pytest

from loadray.errors import UsageError
from loadray.live import LiveStatus, MetricsServer, Totals
from loadray.live.metrics import RunLabels
from loadray.live.step_figures import LATENCY_BUCKETS_S, OTHER_STEP, StepTally, latency_grid
from loadray.schema import SCHEMA, complete
from promql import buckets, histogram_quantile, samples, scrape_text, total

START = 1_700_000_000_000_000_000


def rows(steps, latency_ns, status=None, error=None, nbytes=None) -> pa.Table:
    n = len(steps)
    latency = np.asarray(latency_ns, dtype=np.int64)
    error = error if error is not None else [None] * n
    never_sent = [e in ("dropped", "fenced") for e in error]
    return complete({
        "intended_ns": START + np.arange(n, dtype=np.int64) * 1000,
        "sent_ns": pa.array([None if d else START for d in never_sent], pa.int64()),
        "latency_ns": pa.array([None if d or e == "cut" else int(v) for d, e, v in zip(never_sent, error, latency)],
                               pa.int64()),
        "service_ns": pa.array([None if d or e == "cut" else int(v) for d, e, v in zip(never_sent, error, latency)],
                               pa.int64()),
        "status": np.asarray(status if status is not None else [200] * n, np.int16),
        "error": pa.array(error, SCHEMA.field("error").type),
        "step": pa.array(steps, SCHEMA.field("step").type),
        "phase": np.zeros(n, np.int16),
        "worker": np.zeros(n, np.int16),
        "bytes_in": np.asarray(nbytes if nbytes is not None else [100] * n, np.int32),
    })


@pytest.fixture
def server():
    s = MetricsServer(0, labels=RunLabels("20261129T000000Z-smoke", "smoke"))
    s.start()
    yield s
    s.stop()


def test_histogram_quantile_is_promql_s():
    # (upper bound, cumulative count): 50 in (0.1, 0.2], 50 in (0.2, +Inf)
    bs = [(0.1, 0.0), (0.2, 50.0), (math.inf, 100.0)]
    assert histogram_quantile(0.25, bs) == pytest.approx(0.15)  # 0.1 + 0.1 * 25/50
    assert histogram_quantile(0.5, bs) == pytest.approx(0.2)
    assert histogram_quantile(0.99, bs) == 0.2  # in +Inf: the highest finite bound
    assert histogram_quantile(0.5, [(0.1, 10.0), (math.inf, 10.0)]) == pytest.approx(0.05)  # from 0
    assert math.isnan(histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]))
    assert math.isnan(histogram_quantile(0.5, [(0.1, 3.0), (0.2, 5.0)]))  # no +Inf bucket
    assert histogram_quantile(0.5, [(0.1, 8.0), (0.2, 6.0), (math.inf, 10.0)]) == pytest.approx(0.1 * 5 / 8)  # monotonic


def test_latency_grid_is_2_percent_log_steps():
    grid = LATENCY_BUCKETS_S
    assert grid == latency_grid() and grid[0] == 5e-5 and grid[-1] >= 60.0
    ratios = np.array(grid[1:]) / np.array(grid[:-1])
    assert ratios.min() > 1.019 and ratios.max() < 1.021
    assert 700 <= len(grid) <= 720


def test_scrape_exposes_exact_per_step_counts(server):
    steps = ["home"] * 6 + ["search"] * 4
    latency = [1e6, 2e6, 3e6, 4e6, 5e6, 6e6, 10e6, 20e6, 30e6, 40e6]
    status = [200, 200, 500, 0, 0, 0, 200, 200, 404, 0]
    error = [None, "check:status in [201]", "http_5xx", "timeout", "dropped", "cut", None, None, "http_4xx", "fenced"]
    server.observe(rows(steps, latency, status, error, nbytes=[10, 20, 30, 0, 0, 0, 5, 5, 5, 0]))
    text = scrape_text(server.url)
    run = {"run": "20261129T000000Z-smoke", "scenario": "smoke"}
    req = "loadray_requests_total"
    assert total(text, req, step="home", outcome="ok", **run) == 1
    assert total(text, req, step="home", outcome="check") == 1
    assert total(text, req, step="home", outcome="http_5xx") == 1
    assert total(text, req, step="home", outcome="timeout") == 1
    assert total(text, req, step="home", outcome="dropped") == 1
    assert total(text, req, step="home", outcome="cut") == 1
    assert total(text, req, step="search", outcome="ok") == 2
    assert total(text, req, step="search", outcome="http_4xx") == 1
    assert total(text, req, step="search", outcome="fenced") == 1
    assert total(text, req) == 10  # every intended request once
    assert total(text, "loadray_responses_total", step="home", code="200") == 2
    assert total(text, "loadray_responses_total", step="home", code="500") == 1
    assert total(text, "loadray_responses_total", step="search", code="404") == 1
    assert total(text, "loadray_responses_total") == 6
    assert total(text, "loadray_bytes_in_total", step="home") == 60
    assert total(text, "loadray_bytes_in_total", step="search") == 15
    # latency: completed rows only (not dropped, fenced, cut): home 1..4 ms, search 10..30 ms
    assert total(text, "loadray_latency_seconds_count", step="home") == 4
    assert total(text, "loadray_latency_seconds_sum", step="home") == pytest.approx(0.010)
    home = buckets(text, "loadray_latency_seconds", step="home")
    assert len(home) == len(LATENCY_BUCKETS_S) + 1
    for le, count in home:
        assert count == sum(v / 1e9 <= le for v in [1e6, 2e6, 3e6, 4e6])
    assert {labels["scenario"] for _, labels, _ in samples(text)} == {"smoke"}


def test_quantiles_agree_with_exact_ones_within_2_percent():
    rng = np.random.default_rng(7)
    cases = {
        "uniform 10-20 ms": rng.uniform(10e6, 20e6, 20_000),
        "lognormal 8 ms": rng.lognormal(np.log(8e6), 0.5, 20_000),
        "bimodal 1 ms / 50 ms": np.concatenate([rng.uniform(1e6, 2e6, 18_500), rng.uniform(50e6, 52e6, 1_500)]),
        "loopback 80-400 us": rng.uniform(80e3, 400e3, 5_000),
    }
    for name, values in cases.items():
        tally = StepTally()
        tally.add(rows(["a"] * values.size, values.astype(np.int64)))
        (fig,) = tally.figures()
        bs = list(zip([*LATENCY_BUCKETS_S, math.inf], map(float, fig.cumulative())))
        for q in (0.5, 0.9, 0.99):
            got, exact = histogram_quantile(q, bs), np.quantile(values.astype(np.int64), q) / 1e9
            assert abs(got / exact - 1) < 0.02, (name, q, got, exact)


def test_steps_beyond_the_cap_are_counted_as_other():
    tally = StepTally(max_steps=2)
    tally.add(rows(["a", "b", "c", "d", "a"], [1e6] * 5))
    tally.add(rows(["e", "b"], [1e6] * 2))
    figs = {f.step: f for f in tally.figures()}
    assert list(figs) == ["a", "b", OTHER_STEP]
    assert figs["a"].outcomes == {"ok": 2} and figs["b"].outcomes == {"ok": 2}
    assert figs[OTHER_STEP].outcomes == {"ok": 3}  # c, d, e


def test_counters_add_up_over_batches(server):
    server.observe(rows(["a"] * 3, [1e6] * 3))
    first = scrape_text(server.url)
    server.observe(rows(["a"] * 2 + ["b"], [2e6] * 3))
    second = scrape_text(server.url)
    assert total(first, "loadray_requests_total") == 3
    assert total(second, "loadray_requests_total", step="a") == 5
    assert total(second, "loadray_latency_seconds_count") == 6
    assert total(second, "loadray_latency_seconds_sum") == pytest.approx(0.009)


def _status(**kw) -> LiveStatus:
    base = dict(state="running", phase=2, target_rate=500.0, achieved_rate=498.5, in_flight=12, workers_alive=3,
                workers_total=3, elapsed_s=12.5, totals=Totals(sent=1000, done=990, lost=5))
    return LiveStatus(**{**base, **kw})


def test_gauges_come_from_the_live_status(server):
    text = scrape_text(server.url)
    assert total(text, "loadray_run_finished") == 0 and total(text, "loadray_lost_total") == 0
    assert not [n for n, _, _ in samples(text) if n.startswith(("loadray_requests", "loadray_target_rate"))]
    server.update(_status())
    text = scrape_text(server.url)
    assert total(text, "loadray_target_rate", run="20261129T000000Z-smoke") == 500
    assert total(text, "loadray_achieved_rate") == 498.5
    assert total(text, "loadray_in_flight") == 12
    assert total(text, "loadray_workers_alive") == 3 and total(text, "loadray_workers_total") == 3
    assert total(text, "loadray_phase") == 3  # numbered from 1, like the report and the live view
    assert total(text, "loadray_elapsed_seconds") == 12.5
    assert total(text, "loadray_lost_total") == 5
    assert not [n for n, _, _ in samples(text) if n == "loadray_target_users"]  # open model
    server.update(_status(users=40, totals=Totals(lost=2)))  # a smaller lost never lowers the counter
    text = scrape_text(server.url)
    assert total(text, "loadray_target_users") == 40 and total(text, "loadray_lost_total") == 5


def test_linger_ends_at_the_first_scrape_of_the_final_counts(server):
    scrape_text(server.url)  # a scrape before finish() does not count
    server.observe(rows(["a"], [1e6]))
    server.finish()
    assert server.linger(0.2) is False  # nobody scraped: waits the whole linger
    got = {}

    def wait():
        t0 = time.monotonic()
        got["scraped"] = server.linger(10)
        got["waited"] = time.monotonic() - t0

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    text = scrape_text(server.url)
    waiter.join(5)
    assert got["scraped"] is True and 0.25 < got["waited"] < 3
    assert total(text, "loadray_run_finished") == 1 and total(text, "loadray_requests_total") == 1


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
    scrape_text(server.url)
    server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
    again = MetricsServer(port)  # the same port can be bound again at once
    assert again.start() == port
    again.stop()
    server.stop()  # idempotent
