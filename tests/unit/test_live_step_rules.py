"""Live rules scoped to one step (``p99{step=slow} < 300ms`` with ``abort_on_fail``, a
scoped ``abort_when`` breaker): the workers' per-step folding, the coordinator's
judgement on a fake clock, and agreement with the exact final figures of that step.

The synthetic run of :mod:`test_metric_live_and_final` (2 workers x 4 seconds, every
kind of row) is folded again, now with live figures kept for two of its steps; the live
value of every metric over a step's board must match the final evaluator's value of
the same scoped threshold over the same rows (times within the histograms' 1% buckets,
counts and ratios exactly).
"""

from __future__ import annotations

import pytest
from test_metric_live_and_final import ALL, END, RUN, SECONDS, START, WORKERS, S, exact, rel

from loadray.analysis import summarize
from loadray.archive.reader import RunMeta
from loadray.counters import Counters
from loadray.engine.clock import FakeClock
from loadray.engine.worker import WorkerReady
from loadray.fleet.conductor import START_MARGIN_S, Conductor
from loadray.live.board import Board
from loadray.live.heartbeat import worker_second
from loadray.live.rules import Rules, live_steps, measure
from loadray.live.status import Tally
from loadray.metric import Breaker, Rule, Threshold, parse_metric
from loadray.scenario import parse_scenario
from loadray.scenario.thresholds import parse_thresholds
from loadray.schema import from_rows

MS = 1_000_000
PER_STEP = ["p50", "p90", "p99", "p99.9", "max", "mean", "service_p50", "service_p99", "service_max",
            "service_mean", "error_rate", "rate", "dropped"]
STEPS = ("plain", "f/b")


def _board(steps=STEPS) -> Board:
    b = Board(START, steps)
    for s in range(SECONDS):
        for w in range(WORKERS):
            batch = from_rows(RUN[(w, s)]).combine_chunks().to_batches()[0]
            b.add(worker_second(w, batch, Counters(), Counters(), START + s * S + S // 2, steps=steps))
    return b


BOARD = _board()


def rows_of(step: str, second: int | None = None) -> list[dict]:
    rows = ALL if second is None else [r for w in range(WORKERS) for r in RUN[(w, second)]]
    return [r for r in rows if r["step"] == step]


def final_scoped(name: str, step: str) -> float:
    """The final evaluator's value of ``name{step=...}`` over the whole table."""
    t = Threshold(f"{name}{{step={step}}} < 1", Rule(parse_metric(name), "<", 1.0, step))
    table = from_rows(ALL)
    [result] = summarize(table, RunMeta(START, START + SECONDS * S), [t])["thresholds"]
    return result["value"]


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("name", PER_STEP)
def test_a_steps_live_value_agrees_with_its_final_one(name, step):
    metric = parse_metric(name)
    scope = BOARD.scope(step)
    live = measure(metric, scope.so_far(END) if metric.is_count else scope.window(END, SECONDS))
    expected = exact(name, rows_of(step), SECONDS)
    rounding = 5e-4 if metric.of is not None else 0.0  # the summary's 1 us rounding
    assert final_scoped(name, step) == pytest.approx(expected, rel=1e-9, abs=rounding)
    assert live == pytest.approx(expected, rel=rel(name))
    if metric.of is None and exact(name, ALL, SECONDS) != expected:  # the step's count, not the run's
        assert live != measure(metric, BOARD.so_far(END) if metric.is_count else BOARD.window(END, SECONDS))


def test_each_second_of_a_steps_board_is_that_seconds_exact_value():
    for name in PER_STEP:
        metric = parse_metric(name)
        live = [measure(metric, BOARD.scope("plain").span(s, s)) for s in range(SECONDS)]
        assert live == pytest.approx([exact(name, rows_of("plain", s), 1) for s in range(SECONDS)], rel=rel(name))


def test_a_heartbeat_carries_only_the_steps_live_rules_name():
    batch = from_rows(RUN[(0, 0)]).combine_chunks().to_batches()[0]
    plain = worker_second(0, batch, Counters(), Counters(), START)
    assert plain.steps == {}  # no scoped live rule: nothing is done per step
    hb = worker_second(0, batch, Counters(), Counters(), START, steps=("f/b", "nowhere"))
    nowhere = hb.steps["nowhere"]
    assert set(hb.steps) == {"f/b", "nowhere"} and (nowhere.rows, nowhere.latency.count) == (Tally(), 0)
    f_b = rows_of("f/b", 0)
    assert hb.steps["f/b"].rows.rows == sum(1 for r in f_b if r["worker"] == 0)
    assert hb.rows.rows == len(RUN[(0, 0)])  # the whole run's figures are unchanged
    assert hb.latency.count == plain.latency.count and hb.rows == plain.rows


def test_a_second_a_step_had_no_rows_is_known_as_none_of_it():
    b = Board(START, ("quiet",))
    batch = from_rows(RUN[(0, 0)]).combine_chunks().to_batches()[0]
    b.add(worker_second(0, batch, Counters(), Counters(), START + S // 2, steps=("quiet",)))
    w = b.scope("quiet").span(0, 0)
    assert (w.reports, measure(parse_metric("rate"), w), measure(parse_metric("p99"), w)) == (1, 0.0, None)


def test_live_steps_are_those_of_abort_on_fail_thresholds_and_breakers():
    ts = parse_thresholds(["p99{step=a} < 1s", {"threshold": "p99{step=b} < 1s", "abort_on_fail": True},
                           {"threshold": "error_rate < 1%", "abort_on_fail": True},
                           {"threshold": "p99 < 1s", "step": "c", "abort_on_fail": True}])
    breakers = [Breaker("x", Rule(parse_metric("p99"), ">", 1.0, "d"), 1.0),
                Breaker("y", Rule(parse_metric("p99"), ">", 1.0, "b"), 1.0)]
    assert live_steps(ts, breakers) == ("b", "c", "d")
    assert live_steps(ts[:1], []) == ()


# -- judging on a fake clock --------------------------------------------------------------------------

def _rows(step: str, latency_ms: float, n: int, t_ns: int) -> list[dict]:
    return [{"intended_ns": t_ns + i, "sent_ns": t_ns + i, "latency_ns": int(latency_ms * MS),
             "service_ns": int(latency_ms * MS), "status": 200, "error": None, "step": step, "phase": 0,
             "worker": 0, "bytes_in": 0, "attempt": 1} for i in range(n)]


def _second(second: int, steps=("slow",)):
    """One heartbeat in ``second``: 95 fast rows at 10 ms, 5 slow ones at 500 ms (the
    run's p99 ~ 500 ms only at the very top: its p90 stays at 10 ms)."""
    at = START + second * S + S // 2
    batch = from_rows(_rows("fast", 10, 95, at) + _rows("slow", 500, 5, at)).to_batches()[0]
    return worker_second(0, batch, Counters(), Counters(), at, steps=steps)


def test_a_scoped_abort_on_fail_waits_for_its_delay_then_names_its_step():
    t = Threshold("p90{step=slow} < 300ms", Rule(parse_metric("p90"), "<", 300.0, "slow"), True, delay_s=3.0)
    whole = Threshold("p90 < 300ms", Rule(parse_metric("p90"), "<", 300.0), True)
    rules, b = Rules([t, whole], [], window_s=2), Board(START, ("slow",))
    fired = []
    for s in range(6):
        b.add(_second(s))
        breaches, abort = rules.check(b, START + (s + 1) * S + S // 10)
        fired.append((s, [(x.expr, x.step, x.value) for x in breaches], abort))
    assert fired[0][1] == [("p90{step=slow} < 300ms", "slow", pytest.approx(500.0, rel=0.01))]
    assert [abort for _, _, abort in fired[:2]] == [None, None]  # failing from 1.1 s, delay 3 s
    assert fired[2][2] == "threshold 'p90{step=slow} < 300ms' failed on step 'slow' (500) and is abort_on_fail"
    assert all(x[1] == [] for x in fired[1:])  # one breach while it keeps failing


def test_a_scoped_breaker_trips_after_for_seconds_of_its_steps_figures():
    b_slow = Breaker("p99{step=slow} > 300ms for 3s", Rule(parse_metric("p99"), ">", 300.0, "slow"), 3.0)
    b_fast = Breaker("p99{step=fast} > 300ms for 1s", Rule(parse_metric("p99"), ">", 300.0, "fast"), 1.0)
    rules, b = Rules([], [b_slow, b_fast], window_s=10), Board(START, ("slow", "fast"))
    aborts = []
    for s in range(5):
        b.add(_second(s, steps=("slow", "fast")))
        aborts.append(rules.check(b, START + (s + 1) * S + S // 10)[1])
    assert aborts[:2] == [None, None]
    assert aborts[2] == "circuit breaker 'p99{step=slow} > 300ms for 3s' tripped on step 'slow' (500)"


def _conductor(doc_extra: dict):
    doc = {"name": "c", "target": "http://127.0.0.1:9", "workers": 1,
           "load": {"phases": [{"duration": "20s", "rate": 100}]},
           "requests": [{"name": "fast", "path": "/"}, {"name": "slow", "path": "/slow"}], **doc_extra}
    clock = FakeClock()
    c = Conductor(parse_scenario(doc), clock)
    c.joined(WorkerReady(0, 100, "h", 0, node="n0", address="127.0.0.1"))
    start_ns, _ = c.begin()
    clock.now_ns += int(START_MARGIN_S * S)
    return c, clock, start_ns


def _drive(c: Conductor, clock: FakeClock, start_ns: int, seconds: int, steps=("slow",)) -> None:
    """``seconds`` of the run in 0.25 s ticks, one heartbeat in the middle of each second."""
    for s in range(seconds):
        for tick in range(4):
            clock.now_ns += S // 4
            c.renew((0, 0), lapsed=False)
            c.tick()
            if tick == 1:
                at = clock.wall_ns()
                assert at == start_ns + s * S + S // 2
                batch = from_rows(_rows("fast", 10, 95, at) + _rows("slow", 500, 5, at)).to_batches()[0]
                c.heartbeat(worker_second(0, batch, Counters(), Counters(), at, steps=steps))


def test_the_coordinator_stops_the_run_on_a_scoped_threshold_and_says_which_step():
    c, clock, start = _conductor({"thresholds": [
        "p90 < 300ms", {"threshold": "p90 < 300ms", "step": "slow", "abort_on_fail": True, "delay": "2s"}]})
    assert c.board.steps.keys() == {"slow"}
    _drive(c, clock, start, 6)
    assert c.verdict.aborted == "threshold 'p90{step=slow} < 300ms' failed on step 'slow' (500) and is abort_on_fail"
    assert c.state == "stopping"
    breach = next(e for e in c.events if e.event == "breach")
    assert (breach.why, breach.step, breach.kind) == ("p90{step=slow} < 300ms", "slow", "threshold")
    abort = next(e for e in c.events if e.event == "abort")
    assert 2.0 <= abort.at_s < 4.0 and abort.why == c.verdict.aborted


def test_the_coordinator_leaves_an_unscoped_rule_that_holds_alone():
    c, clock, start = _conductor({"thresholds": [{"threshold": "p90 < 300ms", "abort_on_fail": True}]})
    assert c.board.steps == {}
    _drive(c, clock, start, 6, steps=())
    assert c.verdict.aborted is None and c.state == "running"
