"""Every metric x {final, live threshold, breaker}, on one synthetic run.

The run: 2 workers x 4 seconds of rows (plain requests, errors, dropped, fenced and
cut rows, flow instances with retries, some spanning two flushes). Each worker flushes
once a second; its heartbeats are built from those batches exactly as a worker does
(:func:`loadray.live.heartbeat.worker_second`) and merged on a
:class:`~loadray.live.board.Board` (no Ray). A reference written here from the row
dicts (not from loadray's code) gives the exact value of every metric, over the run
and over each second; the final evaluator must match it exactly, the live one within
the histograms' 1% buckets (counts and ratios exactly).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from loadray.analysis import evaluate, summarize
from loadray.archive.reader import RunMeta
from loadray.counters import Counters
from loadray.live.board import Board
from loadray.live.flow_outcomes import FlowOutcomes
from loadray.live.heartbeat import worker_second
from loadray.live.rules import Rules, measure
from loadray.metric import Breaker, Rule, Threshold, parse_metric
from loadray.schema import from_rows

S, MS = 1_000_000_000, 1_000_000
START = 1_700_000_000 * S
SECONDS, WORKERS, PER_SECOND = 4, 2, 1500
LIVE = ["p50", "p90", "p99", "p99.9", "max", "mean", "service_p50", "service_p99", "service_max",
        "service_mean", "error_rate", "flow_error_rate", "rate", "dropped"]
TIMES_REL = 0.01  # the histograms' bucket error
EXACT_REL = 1e-12


# -- the synthetic run ---------------------------------------------------------------------

def _row(rng, worker, t, step, error=None, attempt=1, flow_id=None, end=False, sent=True, completed=True):
    latency = int(rng.lognormvariate(np.log(20 * MS), 0.5)) if sent else None
    if sent and not completed:
        latency = 5 * S  # cut at the stop: a latency that must count nowhere
    return {
        "intended_ns": START + t, "sent_ns": START + t if sent else None,
        "latency_ns": latency, "service_ns": None if latency is None else latency - rng.randrange(1, 2 * MS),
        "status": 503 if error == "http_5xx" else (200 if error is None else 0), "error": error,
        "step": step, "phase": 0, "worker": worker, "bytes_in": 0, "attempt": attempt, "flow_id": flow_id,
        "flow_ns": (latency or 0) + MS if end else None,
    }


# (step, error, attempt, end) of each row of a two-step flow instance, by shape
FLOWS = {
    "ok": [("f/a", None, 1, False), ("f/b", None, 1, True)],
    "retried": [("f/a", "http_5xx", 1, False), ("f/a", None, 2, False), ("f/b", None, 1, True)],
    "failed_on": [("f/a", "timeout", 1, False), ("f/b", None, 1, True)],  # stop_on_failure: false
    "failed_at_once": [("f/a", "http_5xx", 1, True)],
    "retried_twice": [("f/a", None, 1, False), ("f/b", "reset", 1, False), ("f/b", "reset", 2, True)],
}


def _item(rng: random.Random, worker: int, t: int, flow: int) -> list[dict]:
    """The rows of one random arrival: a flow instance, a one-row instance without
    ``flow_id``, a request never sent, one cut at the stop, or a plain request."""
    pick = rng.random()
    if pick < 0.35:
        return [_row(rng, worker, t, s, e, a, flow, end) for s, e, a, end in FLOWS[rng.choice(list(FLOWS))]]
    if pick < 0.40:
        return [_row(rng, worker, t, "one", rng.choice([None, "http_5xx"]), end=True)]
    if pick < 0.43:
        return [_row(rng, worker, t, "plain", rng.choice(["dropped", "fenced"]), sent=False)]
    if pick < 0.45:
        return [_row(rng, worker, t, "plain", "cut", completed=False)]
    return [_row(rng, worker, t, "plain", "http_4xx" if rng.random() < 0.05 else None)]


def _flushes(worker: int, rng: random.Random) -> list[list[dict]]:
    """One worker's rows in the order it records them, as its SECONDS flushes. Each
    flush ends inside two flow instances that go on in the next one: one whose failed
    first step is retried there, one whose failed step (not stopping the flow) ends
    there."""
    flushes, carry, flow = [], [], worker * 1_000_000
    for s in range(SECONDS):
        rows, carry = carry, []
        while len(rows) < PER_SECOND:
            flow += 1
            rows += _item(rng, worker, s * S + len(rows) * (S // PER_SECOND), flow)
        if s < SECONDS - 1:
            for shape in ("retried", "failed_on"):
                flow += 1
                first, *rest = [_row(rng, worker, (s + 1) * S - 1, st, e, a, flow, end) for st, e, a, end in FLOWS[shape]]
                rows.append(first)
                carry += rest
        flushes.append(rows)
    return flushes


def _run() -> dict[tuple[int, int], list[dict]]:
    """``(worker, second) -> rows`` flushed in that second."""
    rng = random.Random(7)
    return {(w, s): rows for w in range(WORKERS) for s, rows in enumerate(_flushes(w, rng))}


RUN = _run()
ALL = [r for s in range(SECONDS) for w in range(WORKERS) for r in RUN[(w, s)]]


# -- the reference: exact values from the row dicts ----------------------------------------

def _failed_flows(rows: list[dict]) -> set[int]:
    """Flow ids with an error that no retry of the same step followed."""
    attempts = {(r["flow_id"], r["step"], r["attempt"]) for r in rows if r["flow_id"] is not None}
    return {r["flow_id"] for r in rows if r["flow_id"] is not None and r["error"]
            and (r["flow_id"], r["step"], r["attempt"] + 1) not in attempts}


FAILED = _failed_flows(ALL)


def exact(name: str, rows: list[dict], seconds: int) -> float:
    metric = parse_metric(name)
    sent = [r for r in rows if r["error"] not in ("dropped", "fenced")]
    completed = [r for r in sent if r["error"] != "cut"]
    if metric.of is not None:
        values = np.array([r[f"{metric.of}_ns"] for r in completed], dtype=np.int64)
        stat = {"percentile": lambda v: np.percentile(v, metric.q), "max": np.max, "mean": np.mean}[metric.kind]
        return float(stat(values)) / MS
    ends = [r for r in rows if r["flow_ns"] is not None]
    return {
        "error_rate": lambda: sum(1 for r in completed if r["error"]) / len(completed),
        "flow_error_rate": lambda: sum(
            1 for r in ends if (r["flow_id"] in FAILED if r["flow_id"] is not None else r["error"])
        ) / len(ends),
        "rate": lambda: len(sent) / seconds,
        "dropped": lambda: float(len(rows) - len(sent)),
        "cut": lambda: float(len(sent) - len(completed)),
    }[name]()


def per_second(name: str) -> list[float]:
    return [exact(name, [r for w in range(WORKERS) for r in RUN[(w, s)]], 1) for s in range(SECONDS)]


def rel(name: str) -> float:
    return TIMES_REL if parse_metric(name).of is not None else EXACT_REL


# -- what loadray makes of the run ----------------------------------------------------------

def board() -> Board:
    b = Board(START)
    flows = [FlowOutcomes() for _ in range(WORKERS)]
    for s in range(SECONDS):
        for w in range(WORKERS):
            batch = from_rows(RUN[(w, s)]).combine_chunks().to_batches()[0]
            b.add(worker_second(w, batch, Counters(), Counters(), START + s * S + S // 2, flows=flows[w]))
    return b


BOARD = board()
END = START + SECONDS * S + S // 2  # after the last complete second


def final(name: str, value: float) -> dict:
    t = Threshold(f"{name} < {value}", Rule.of(name, "<", value))
    table = from_rows(ALL)
    [result] = evaluate([t], table, summarize(table, RunMeta(START, START + SECONDS * S)))
    return result


def live_abort(name: str, value: float) -> str | None:
    t = Threshold(f"{name} < {value}", Rule.of(name, "<", value), abort_on_fail=True)
    return Rules([t], [], window_s=SECONDS).check(BOARD, END)[1]


# -- the table ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [*LIVE, "cut"])
def test_final_value_is_exact(name):
    expected = exact(name, ALL, SECONDS)
    result = final(name, expected * 1.5)
    rounding = 5e-4 if parse_metric(name).of is not None else 0.0  # the summary's 1 us rounding
    assert result["value"] == pytest.approx(expected, rel=1e-9, abs=rounding) and result["passed"]
    assert not final(name, expected * 0.999)["passed"]


@pytest.mark.parametrize("name", LIVE)
def test_live_value_agrees_with_the_final_one(name):
    metric = parse_metric(name)
    window = BOARD.so_far(END) if metric.is_count else BOARD.window(END, SECONDS)
    assert measure(metric, window) == pytest.approx(exact(name, ALL, SECONDS), rel=rel(name))


@pytest.mark.parametrize("name", LIVE)
def test_live_threshold_with_abort_on_fail(name):
    expected = exact(name, ALL, SECONDS)
    assert live_abort(name, expected * 1.02) is None
    reason = live_abort(name, expected * 0.98)
    assert reason is not None and reason.startswith(f"threshold '{name} < ") and "abort_on_fail" in reason


@pytest.mark.parametrize("name", LIVE)
def test_breaker_trips_on_the_second_consecutive_second(name):
    seconds = per_second(name)
    low = Breaker(f"{name} > low for 2s", Rule.of(name, ">", min(seconds) * 0.98), for_s=2.0)
    high = Breaker(f"{name} > high for 2s", Rule.of(name, ">", max(seconds) * 1.02), for_s=2.0)
    rules = Rules([], [low, high], window_s=10)
    assert rules.check(BOARD, START + int(1.2 * S)) == ([], None)  # second 0 held: 1 of 2
    breaches, abort = rules.check(BOARD, START + int(2.2 * S))  # second 1 held too
    assert [b.expr for b in breaches] == [low.expr] and abort.startswith(f"circuit breaker '{low.expr}' tripped")
    assert breaches[0].value == pytest.approx(seconds[1], rel=rel(name))
    assert rules.check(BOARD, END)[1] is None  # tripped once; 'high' never held


def test_the_live_values_of_each_second_are_its_exact_values():
    for name in LIVE:
        metric = parse_metric(name)
        live = [measure(metric, BOARD.span(s, s)) for s in range(SECONDS)]
        assert live == pytest.approx(per_second(name), rel=rel(name)), name


def test_the_run_has_what_the_table_claims():
    """Every kind of row is there; flow instances span flushes, fail and pass on retries."""
    kinds = {r["error"] for r in ALL}
    assert {"dropped", "fenced", "cut", "http_5xx", "http_4xx", "timeout", "reset", None} <= kinds
    ids = {key: {r["flow_id"] for r in rows} - {None} for key, rows in RUN.items()}
    spanning = {f for (w, s) in RUN if s + 1 < SECONDS for f in ids[(w, s)] & ids[(w, s + 1)]}
    assert len(spanning) == 2 * WORKERS * (SECONDS - 1)
    assert len(spanning & FAILED) == WORKERS * (SECONDS - 1)  # the retried ones passed
    assert 0.2 < exact("flow_error_rate", ALL, SECONDS) < 0.8


def test_without_carrying_flow_instances_across_flushes_live_would_disagree():
    b = Board(START)
    for s in range(SECONDS):
        for w in range(WORKERS):
            batch = from_rows(RUN[(w, s)]).combine_chunks().to_batches()[0]
            b.add(worker_second(w, batch, Counters(), Counters(), START + s * S + S // 2))  # a fresh FlowOutcomes each
    metric = parse_metric("flow_error_rate")
    assert measure(metric, b.window(END, SECONDS)) < measure(metric, BOARD.window(END, SECONDS))
