import pyarrow as pa

from loadray.analysis import summarize
from loadray.archive.reader import RunMeta
from loadray.metric import Rule, Threshold
from loadray.report import render_summary
from loadray.report.text import format_ms, format_threshold_value
from loadray.schema import SCHEMA, from_rows

MS = 1_000_000
START = 1_700_000_000_000_000_000


def summary(thresholds=()):
    rows = [
        {"intended_ns": START + i * MS, "sent_ns": START + i * MS, "latency_ns": (i + 1) * MS,
         "service_ns": (i + 1) * MS, "status": 200, "error": None, "step": "root", "phase": 0,
         "worker": 0, "bytes_in": 0}
        for i in range(1000)
    ]
    rows.append({**rows[0], "sent_ns": None, "latency_ns": None, "service_ns": None, "status": 0, "error": "dropped"})
    return summarize(from_rows(rows), RunMeta(START, START + 10**10), thresholds, name="smoke")


def test_render_summary_has_the_numbers():
    s = summary([Threshold("p99 < 1s", Rule.of("p99", "<", 1000.0)), Threshold("error_rate < 0.5%", Rule.of("error_rate", "<", 0.005)),
                 Threshold("max < 500ms", Rule.of("max", "<", 500.0))])
    text = render_summary(s)
    assert "smoke" in text
    assert "1,001" in text and "1,000" in text  # intended, sent
    assert "100.0/s" in text  # achieved rate: 1000 sent in 10 s
    assert "990ms" in text  # p99
    assert "500ms" in text  # p50 (500.5)
    assert "✓ p99 < 1s  (990ms)" in text
    assert "✓ error_rate < 0.5%  (0%)" in text
    assert "✗ max < 500ms  (1s)" in text
    assert "FAILED" in text
    assert "1 requests were dropped" in text
    assert "\x1b[" not in text  # plain text by default
    assert max(len(line) for line in text.splitlines()) <= 100


def test_render_summary_color_and_empty():
    s = summary()
    assert "\x1b[" in render_summary(s, color=True)
    empty = summarize(SCHEMA.empty_table(), None)
    text = render_summary(empty)
    assert "thresholds" not in text and "latency" in text


def test_formatting():
    assert [format_ms(v) for v in (None, 0.1234, 4.5, 45.67, 456.7, 4567.0)] == [
        "-", "0.123ms", "4.5ms", "45.7ms", "457ms", "4.57s"]
    assert format_threshold_value("error_rate < 1%", 0.0123) == "1.23%"
    assert format_threshold_value("rate > 10", 1234.5) == "1,234.5/s"
    assert format_threshold_value("dropped < 1", 3) == "3"
    assert format_threshold_value("p99 < 1s", None) == "no data"


def test_flows_checks_and_retries_are_shown():
    from test_analysis_summary import flow_rows

    s = summarize(from_rows(flow_rows()), None, name="flows")
    text = render_summary(s)
    assert "flows (end to end)" in text
    line = next(ln for ln in text.splitlines() if ln.split()[:1] == ["checkout"])
    assert line.split()[:4] == ["checkout", "4", "2", "2"] and "90.0ms" in line
    assert "errors: check 3, timeout 1" in text
    assert "failed checks: status is 200 2, paid 1" in text
    duration = s["duration_s"]
    assert f"flow rate: {5 / duration:,.1f} flows/s (the scenario's rate), {s['rate']:,.1f} requests/s" in text
    assert "retries: 1" in text
    with_plan = {**s, "check_results": [{"step": "a", "check": "x", "passed": 97, "failed": 2, "errors": 1}],
                 "bytes_in": {"total": 1_234_567, "per_s": 12_345.0}}
    text = render_summary(with_plan)
    assert "checks: 97 passed, 3 failed (97% passed)" in text and "bytes in: 1.23 MB (12.3 kB/s)" in text
    assert max(len(ln) for ln in text.splitlines()) <= 100
    plain = render_summary(summary())
    assert "flows" not in plain and "retries" not in plain and "checks" not in plain
