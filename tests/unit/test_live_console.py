import io

import numpy as np
from rich.console import Console

from helpers import FakeSeconds
from loadray.live import LiveConsole, LiveStatus, LogHistogram, Totals, render, status_line


def _status(**changes) -> LiveStatus:
    base = dict(
        state="running",
        elapsed_s=12.0,
        duration_s=60.0,
        phase=0,
        target_rate=500.0,
        achieved_rate=498.0,
        p50_ms=20.4,
        p99_ms=31.0,
        errors_per_s=0.0,
        in_flight=12,
        totals=Totals(sent=6000, done=5988, errors=3, dropped=0, lost=0),
        workers_alive=3,
        workers_total=3,
        outcomes={"2xx": 5985, "timeout": 3},
        latency=LogHistogram.of(np.full(10, 20_000_000)),
    )
    base.update(changes)
    return LiveStatus(**base)


LINE = "  12.0s/60s running phase 1  rate 498/500/s  p50 20.4ms p99 31.0ms  err/s 0  in-flight 12  dropped 0  lost 0  workers 3/3"


def test_status_line_exact():
    assert status_line(_status()) == LINE


def test_status_line_edge_values():
    s = _status(
        elapsed_s=3.25, duration_s=90.5, phase=2, state="paused", achieved_rate=2.5, target_rate=1234.4,
        p50_ms=None, p99_ms=0.345, errors_per_s=1.5, in_flight=0,
        totals=Totals(dropped=7, lost=42), workers_alive=2, workers_total=3,
    )
    assert status_line(s) == (
        "  3.2s/90.5s paused phase 3  rate 2.5/1234/s  p50 - p99 0.34ms  err/s 1.5"
        "  in-flight 0  dropped 7  lost 42  workers 2/3"
    )
    assert status_line(_status(duration_s=0.0, p99_ms=2500.0)).startswith("  12.0s running phase 1")
    assert "p99 2500ms" in status_line(_status(p99_ms=2500.0))


def test_a_flow_plan_labels_requests_and_flows():
    line = status_line(_status(achieved_rate=150.0, target_rate=50.0, target_unit="flows"))
    assert "rate 150 req/s of 50 flows/s" in line


def test_plain_console_prints_one_line_per_interval_and_new_warnings_once():
    out, clock = io.StringIO(), FakeSeconds()
    console = LiveConsole("smoke", stream=out, tty=False, plain_every_s=5.0, clock=clock)
    saturated = "send lag p99 12ms > 10ms: generator saturated"
    for second in range(13):  # updates at t = 0..12 s, one per second
        clock.now = 100.0 + second
        warnings = (saturated,) if second >= 3 else ()
        if second >= 8:
            warnings = (saturated, "worker 2 lost")
        console.update(_status(elapsed_s=float(second), warnings=warnings))
    lines = out.getvalue().splitlines()
    assert lines == [
        LINE.replace("12.0s", "0.0s"),
        f"  warning: {saturated}",
        LINE.replace("12.0s", "5.0s"),
        "  warning: worker 2 lost",
        LINE.replace("12.0s", "10.0s"),
    ]
    console.close()  # the newest status not yet shown is printed once at the end
    assert out.getvalue().splitlines()[5:] == [LINE]
    console.close()
    console.update(_status())
    assert len(out.getvalue().splitlines()) == 6


def test_plain_console_keeps_its_grid_and_shows_abort_once():
    out, clock = io.StringIO(), FakeSeconds()
    with LiveConsole("smoke", stream=out, tty=False, plain_every_s=5.0, clock=clock) as console:
        for t in (0.0, 1.0, 4.99, 5.02, 9.98, 10.0, 11.0):
            clock.now = 100.0 + t
            console.update(_status(elapsed_s=t, aborted="p99 < 10ms" if t >= 9 else None))
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["0.0s/60s", "5.0s/60s", "aborted:", "10.0s/60s", "11.0s/60s"]
    assert lines[2] == "  aborted: p99 < 10ms"


def test_quiet_prints_nothing():
    for tty in (True, False):
        out = io.StringIO()
        with LiveConsole("smoke", quiet=True, stream=out, tty=tty, clock=FakeSeconds()) as console:
            console.update(_status(warnings=("w",), aborted="x"))
        assert out.getvalue() == ""


def test_non_tty_stream_is_detected():
    console = LiveConsole("smoke", stream=io.StringIO())
    assert console.tty is False


def test_render_contains_the_numbers():
    status = _status(
        totals=Totals(sent=6000, done=5988, errors=3, dropped=4, lost=9),
        workers_alive=2,
        errors_per_s=2.0,
        warnings=("generator saturated",),
        aborted="error_rate > 50% for 5s",
    )
    console = Console(file=io.StringIO(), force_terminal=True, width=100, record=True)
    console.print(render(status, "smoke"))
    text = console.export_text()
    for needle in (
        "loadray smoke",
        "12.0s/60s  48s left  running  phase 1",
        "achieved 498 req/s  target 500 req/s  errors 2/s",
        "p50 20.4ms  p99 31.0ms",
        "in-flight 12  dropped 4  lost 9  workers 2/3",
        "sent 6000  done 5988  errors 3",
        "warning: generator saturated",
        "aborted: error_rate > 50% for 5s",
    ):
        assert needle in text, needle


def test_tty_console_draws_live_frames_and_keeps_the_last():
    out = io.StringIO()
    with LiveConsole("smoke", stream=out, tty=True) as console:
        console.update(_status(elapsed_s=1.0, achieved_rate=321.0))
        console.update(_status(elapsed_s=2.0, achieved_rate=456.0))
    raw = out.getvalue()
    assert "\x1b[" in raw  # a terminal display, not plain lines
    assert "achieved 321 req/s" in raw and "achieved 456 req/s" in raw
    assert "2.0s/60s  58s left" in raw
    # the final frame is what stays on screen: it is the last thing drawn
    assert raw.rindex("achieved 456 req/s") > raw.rindex("achieved 321 req/s")


def test_closed_model_shows_users_instead_of_a_target_rate():
    line = status_line(_status(users=10, target_rate=0.0, achieved_rate=64.4))
    assert "rate 64.4/s users 10" in line and "/0/s" not in line
