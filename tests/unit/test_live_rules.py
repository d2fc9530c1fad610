"""The live evaluator's timing rules, on a Board fed with synthetic heartbeats (no Ray):
breakers count consecutive seconds, a late check judges every second it missed, a
second without data neither counts nor breaks a streak, thresholds wait for their
delay, counts are judged over the run so far; and the conductor stops the run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from loadray.engine.clock import FakeClock
from loadray.engine.worker import WorkerReady
from loadray.fleet.actions import Halt
from loadray.fleet.conductor import START_MARGIN_S, Conductor
from loadray.live.board import Board
from loadray.live.histogram import LogHistogram
from loadray.live.rules import Rules
from loadray.live.status import Tally, WorkerSecond
from loadray.scenario import parse_breaker, parse_scenario, parse_threshold

S, MS = 1_000_000_000, 1_000_000
START = 1_700_000_000 * S


def beat(second: int, service_ms: float = 20.0, errors: int = 0, n: int = 100, worker: int = 0,
         dropped: int = 0) -> WorkerSecond:
    values = np.full(n, int(service_ms * MS))
    return WorkerSecond(
        worker=worker, at_ns=START + second * S + S // 2,
        latency=LogHistogram.of(values + MS), service=LogHistogram.of(values),
        rows=Tally(rows=n + dropped, dropped=dropped, errors=errors),
    )


def board(*beats: WorkerSecond) -> Board:
    b = Board(START)
    for hb in beats:
        b.add(hb)
    return b


def at(second: float) -> int:
    return START + int(second * S)


def breaker_rules(expr: str) -> Rules:
    return Rules([], [parse_breaker(expr, "abort_when[0]")], window_s=10)


def test_a_breaker_trips_after_for_consecutive_seconds_and_a_good_second_resets_it():
    b = board(beat(0, 20), beat(1, 0.5), beat(2, 20), beat(3, 20), beat(4, 20))
    rules = breaker_rules("service_p99 > 1ms for 3s")
    outcomes = [rules.check(b, at(s + 0.1))[1] for s in range(1, 6)]
    assert outcomes[:4] == [None, None, None, None]  # 1, reset, 1, 2
    assert outcomes[4] == "circuit breaker 'service_p99 > 1ms for 3s' tripped (20)"


def test_a_time_to_first_byte_breaker_reads_its_own_histograms():
    slow_first_byte = [replace(beat(s, 20), ttfb=LogHistogram.of(np.full(100, 300 * MS))) for s in range(3)]
    expr = "ttfb_p99 > 250ms for 2s"
    assert breaker_rules(expr).check(board(*(beat(s, 20) for s in range(3))), at(3.1))[1] is None  # none measured
    tripped = breaker_rules(expr).check(board(*slow_first_byte), at(3.1))[1]
    assert tripped.startswith(f"circuit breaker '{expr}' tripped (")
    assert float(tripped.rsplit("(", 1)[1].rstrip(")")) == pytest.approx(300, rel=0.01)  # a histogram's bin


def test_a_late_check_judges_every_second_it_missed_in_order():
    b = board(*(beat(s, 20) for s in range(4)))
    rules = breaker_rules("service_p99 > 1ms for 2s")
    breaches, abort = rules.check(b, at(4.1))  # one check for seconds 0..3
    assert abort is not None and [x.expr for x in breaches] == ["service_p99 > 1ms for 2s"]


def test_a_second_without_data_neither_counts_nor_breaks_the_streak():
    b = board(beat(0, 20), beat(2, 20))  # nobody reported on second 1
    rules = breaker_rules("service_p99 > 1ms for 2s")
    assert rules.check(b, at(2.1))[1] is None  # seconds 0 and 1: a streak of 1
    assert rules.check(b, at(3.1))[1] is not None  # second 2: 2


def test_the_current_second_is_never_judged():
    b = board(beat(0, 20), beat(1, 20))
    rules = breaker_rules("service_p99 > 1ms for 2s")
    assert rules.check(b, at(1.9)) == ([], None)  # second 1 is not over yet


def test_an_error_rate_breaker_reads_the_rows_of_each_second():
    b = board(beat(0, errors=60), beat(0, errors=50, worker=1), beat(1, errors=70), beat(1, errors=20, worker=1))
    rules = breaker_rules("error_rate > 50% for 2s")
    assert rules.check(b, at(2.1))[1] is None  # second 0: 110/200 = 55%, second 1: 90/200 = 45%
    rules = breaker_rules("error_rate >= 45% for 2s")
    assert rules.check(b, at(2.1))[1] == "circuit breaker 'error_rate >= 45% for 2s' tripped (0.45)"


def test_abort_on_fail_waits_for_its_delay_and_the_breach_is_reported_once():
    b = board(*(beat(s, 20) for s in range(6)))
    t = parse_threshold("service_p99 < 10ms", "thresholds[0]")
    rules = Rules([replace(t, abort_on_fail=True, delay_s=3.0)], [], window_s=2)
    first = rules.check(b, at(1.1))
    assert [x.expr for x in first[0]] == ["service_p99 < 10ms"] and first[1] is None  # failing, in its delay
    second = rules.check(b, at(3.2))
    assert second[0] == [] and second[1] == "threshold 'service_p99 < 10ms' failed (20) and is abort_on_fail"


def test_a_count_threshold_is_judged_over_the_run_so_far():
    b = board(*(beat(s, 20, dropped=4) for s in range(5)))  # 4 dropped a second, 20 in all
    t = parse_threshold("dropped < 10", "thresholds[0]")
    rules = Rules([replace(t, abort_on_fail=True)], [], window_s=2)  # a 2 s window would see 8
    assert rules.check(b, at(5.1))[1] == "threshold 'dropped < 10' failed (20) and is abort_on_fail"


def test_a_threshold_on_a_metric_not_judged_live_is_left_to_the_end():
    rules = Rules([parse_threshold("cut < 1", "thresholds[0]")], [], window_s=2)
    assert rules.thresholds == [] and rules.check(board(beat(0)), at(1.5)) == ([], None)


def test_rate_counts_only_the_seconds_since_the_start():
    b = board(beat(0, n=300), beat(1, n=300))
    t = parse_threshold("rate >= 290", "thresholds[0]")
    rules = Rules([replace(t, abort_on_fail=True)], [], window_s=10)  # 600 sent in 2 s, not in 10
    assert rules.check(b, at(2.1)) == ([], None)


def test_the_conductor_stops_the_run_on_a_service_time_breaker():
    scenario = parse_scenario({
        "name": "b", "target": "http://127.0.0.1:9", "workers": 2,
        "load": {"phases": [{"duration": "30s", "rate": 100}]}, "requests": [{"path": "/"}],
        "abort_when": ["service_p99 > 1ms for 2s"],
    })
    clock = FakeClock()
    c = Conductor(scenario, clock)
    for i in range(2):
        c.joined(WorkerReady(i, 100 + i, "h", 0))
    start_wall_ns, _ = c.begin()
    clock.now_ns += int(START_MARGIN_S * S)
    halted_at = None
    for tick in range(1, 6 * 4):
        clock.now_ns += S // 4
        for i in range(2):
            c.renew((i, 0), lapsed=False)
            if tick % 4 == 2:  # each worker reports once a second, mid-second
                c.heartbeat(WorkerSecond(i, clock.wall_ns(), service=LogHistogram.of(np.full(50, 20 * MS))))
        if any(isinstance(a, Halt) for a in c.tick()) and halted_at is None:
            halted_at = (clock.wall_ns() - start_wall_ns) / S
    assert c.verdict.abort_kind == "threshold"
    assert c.verdict.aborted == "circuit breaker 'service_p99 > 1ms for 2s' tripped (20)"
    assert halted_at == 2.0  # seconds 0 and 1 held: judged as second 2 begins
