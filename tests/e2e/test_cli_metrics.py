"""Prometheus agrees with the report: `loadray run --metrics-port 0` says which port it
took, is scraped during the run and after its end, and ``histogram_quantile`` computed
the way Prometheus does (or by a real Prometheus, when installed) gives p50/p90/p99
within 2% of summary.json. The built-in target answers in 10-20 ms (uniform jitter)."""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from marked import kill_marked, new_marker, start_run
from promql import buckets, histogram_quantile, scrape_text, total

pytestmark = pytest.mark.ray

PORT_LINE = re.compile(r"^loadray run: Prometheus metrics on (http://127\.0\.0\.1:(\d+)/metrics)$")
QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


def write_scenario(path: Path, seconds: int = 8, rate: int = 300) -> Path:
    path.write_text(yaml.safe_dump({
        "name": "jitter",
        "target": {"builtin": {"latency": "10ms", "jitter": "10ms"}},
        "workers": 2,
        "load": {"model": "open", "phases": [{"duration": f"{seconds}s", "rate": rate}]},
        "requests": [{"name": "home", "method": "GET", "path": "/"}, {"name": "item", "method": "GET", "path": "/item"}],
        "cluster": {"worker_cpus": 0.25},
    }))
    return path


class Stderr:
    """Reads a child's stderr in a thread (Ray writes there too: the pipe must not fill)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc) -> None:
        for line in proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def metrics_url(self, proc, timeout_s: float = 120) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [m.group(1) for m in map(PORT_LINE.match, self.lines) if m]
            if found:
                return found[0]
            assert proc.poll() is None, "\n".join(self.lines[-30:])
            time.sleep(0.05)
        raise AssertionError("no metrics line on stderr")


def scrape_until_closed(url: str, every_s: float = 0.5, limit_s: float = 180) -> list[str]:
    scrapes, deadline = [], time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            scrapes.append(scrape_text(url, timeout=5))
        except OSError:
            if scrapes:
                return scrapes
        time.sleep(every_s)
    raise AssertionError("the endpoint never closed")


def quantiles_ms(text: str) -> dict[str, float]:
    bs = buckets(text, "loadray_latency_seconds")  # sum by (le) over steps
    return {key: histogram_quantile(q, bs) * 1e3 for key, q in QUANTILES}


def test_metrics_port_0_is_printed_scraped_and_agrees_with_the_report(tmp_path):
    marker = new_marker()
    out = tmp_path / "run"
    proc = start_run(marker, write_scenario(tmp_path / "s.yaml"), "--out", out, "--quiet", "--metrics-port", "0")
    try:
        err = Stderr(proc)
        url = err.metrics_url(proc)
        scrapes = scrape_until_closed(url)
        assert proc.wait(120) == 0, "\n".join(err.lines[-30:])
    finally:
        kill_marked(marker)
    assert len([line for line in err.lines if PORT_LINE.match(line)]) == 1
    summary = json.loads((out / "summary.json").read_text())
    last = scrapes[-1]
    during = [s for s in scrapes if total(s, "loadray_run_finished") == 0 and total(s, "loadray_latency_seconds_count")]
    assert len(during) >= 4  # scraped while it ran, the counts growing
    counts = [total(s, "loadray_requests_total") for s in during]
    assert counts == sorted(counts) and counts[0] < counts[-1] <= summary["intended"]
    # the last scrape (after the end, during the linger) has the final counts
    assert total(last, "loadray_run_finished") == 1
    assert total(last, "loadray_requests_total") == summary["intended"] == 2400
    assert total(last, "loadray_requests_total", outcome="ok") == summary["ok"]
    assert total(last, "loadray_latency_seconds_count") == summary["completed"]
    for step in ("home", "item"):
        assert total(last, "loadray_requests_total", step=step, run="run", scenario="jitter") == \
            summary["steps"][step]["count"]
    got, exact = quantiles_ms(last), summary["latency_ms"]
    print("prometheus-style quantiles", {k: round(v, 3) for k, v in got.items()}, "exact", exact)
    for key, _ in QUANTILES:
        assert 10.0 < exact[key] and abs(got[key] / exact[key] - 1) < 0.02, (key, got[key], exact[key])


PROMETHEUS = shutil.which("prometheus")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _query(api: str, expr: str) -> float:
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as resp:
        result = json.load(resp)["data"]["result"]
    return float(result[0]["value"][1]) if result else math.nan


@pytest.mark.skipif(PROMETHEUS is None, reason="needs prometheus (apt-get install -y prometheus)")
def test_a_real_prometheus_agrees_with_the_report(tmp_path):
    metrics_port, web_port = _free_port(), _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "loadray", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
    }))
    prom = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{web_port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    marker = new_marker()
    out = tmp_path / "run"
    try:
        api = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 60
        while True:  # ready before the run starts
            try:
                urllib.request.urlopen(f"{api}/-/ready", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and prom.poll() is None, "prometheus did not start"
                time.sleep(0.2)
        proc = start_run(marker, write_scenario(tmp_path / "s.yaml"), "--out", out, "--quiet",
                         "--metrics-port", str(metrics_port))
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr[-3000:]
        summary = json.loads((out / "summary.json").read_text())
        # the endpoint is gone (its series are stale): read each series' last sample
        assert _query(api, "sum(last_over_time(loadray_run_finished[5m]))") == 1  # the last scrape: final counts
        assert _query(api, "sum(last_over_time(loadray_requests_total[5m]))") == summary["intended"]
        for key, q in QUANTILES:
            expr = f"histogram_quantile({q}, sum by (le) (last_over_time(loadray_latency_seconds_bucket[5m])))"
            got = _query(api, expr) * 1e3
            exact = summary["latency_ms"][key]
            print(f"prometheus {key} {got:.3f} ms, exact {exact:.3f} ms")
            assert abs(got / exact - 1) < 0.02, (key, got, exact)
    finally:
        kill_marked(marker)
        prom.terminate()  # by its PID: the one this test started
        try:
            prom.wait(10)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait(10)
