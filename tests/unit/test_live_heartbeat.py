"""The per-second worker heartbeat built from a batch of rows."""

import numpy as np

from loadray.live.heartbeat import send_lag_p99_ms
from loadray.schema import from_rows


def test_heartbeat_send_lag_leaves_out_retries():
    rows = [{"intended_ns": i, "sent_ns": i + 2_000_000, "status": 200, "phase": 0, "worker": 0, "bytes_in": 0,
             "attempt": 1 if i % 2 else 3} for i in range(100)]
    for r in rows:
        if r["attempt"] == 3:
            r["sent_ns"] += 500_000_000  # the backoff
    batch = from_rows(rows).to_batches()[0]
    assert send_lag_p99_ms(batch) == 2.0


def _batch(*rows):
    """Rows ``(flow_id, step, attempt, error, ends)`` of a flow path flush."""
    return from_rows([
        {"intended_ns": 0, "sent_ns": 0, "latency_ns": 1, "service_ns": 1, "status": 0 if e else 200, "error": e,
         "step": step, "phase": 0, "worker": 0, "bytes_in": 0, "attempt": a, "flow_id": f,
         "flow_ns": 5 if end else None}
        for f, step, a, e, end in rows
    ]).to_batches()[0]


def test_flow_outcomes_follow_instances_across_flushes():
    from loadray.live.flow_outcomes import FlowOutcomes

    flows = FlowOutcomes()
    first = _batch((1, "a", 1, "http_5xx", False),  # retried in the next flush: ok
                   (2, "a", 1, "timeout", False),  # not retried, ends in the next flush: failed
                   (3, "a", 1, None, False),
                   (4, "a", 1, "http_5xx", False), (4, "a", 2, None, False), (4, "b", 1, None, True))
    assert flows.ended(first, np.asarray(first.column("error").is_valid())) == (1, 0)
    assert set(flows.pending) == {1, 2}
    second = _batch((1, "a", 2, None, False), (1, "b", 1, None, True), (2, "b", 1, None, True),
                    (3, "b", 1, "reset", True), (None, "one", 1, "http_5xx", True), (None, "one", 1, None, True))
    assert flows.ended(second, np.asarray(second.column("error").is_valid())) == (5, 3)
    assert flows.pending == {}  # nothing kept for instances that ended


def test_heartbeat_tally_counts_rows_like_the_summary():
    from loadray.counters import Counters
    from loadray.live.heartbeat import worker_second

    rows = [{"intended_ns": i, "sent_ns": None if e in ("dropped", "fenced") else i,
             "latency_ns": None if e in ("dropped", "fenced") else (9_000_000_000 if e == "cut" else 10_000_000 + i),
             "service_ns": None if e in ("dropped", "fenced") else 5_000_000, "status": 200 if e is None else 0,
             "error": e, "phase": 0, "worker": 0, "bytes_in": 0}
            for i, e in enumerate([None] * 90 + ["timeout"] * 4 + ["dropped"] * 3 + ["fenced", "cut", "cut"])]
    hb = worker_second(0, from_rows(rows).to_batches()[0], Counters(), Counters(), 0)
    t = hb.rows
    assert (t.rows, t.dropped, t.cut, t.errors, t.sent, t.completed) == (100, 4, 2, 4, 96, 94)
    assert hb.latency.count == hb.service.count == 94 and hb.latency.max_ns == 10_000_093  # no cut row


def test_heartbeat_time_to_first_byte_covers_the_completed_rows_that_measured_one():
    from loadray.counters import Counters
    from loadray.live.heartbeat import worker_second

    rows = [{"intended_ns": i, "sent_ns": i, "latency_ns": 10_000_000, "service_ns": 9_000_000,
             "ttfb_ns": None if i % 10 == 0 else 1_000_000 * (1 + i % 10), "status": 200,
             "error": "cut" if i >= 95 else None, "phase": 0, "worker": 0, "bytes_in": 0} for i in range(100)]
    hb = worker_second(0, from_rows(rows).to_batches()[0], Counters(), Counters(), 0)
    # rows 0..94 completed; 10 of them (i % 10 == 0) without a first byte; the cut ones left out
    assert hb.ttfb.count == 95 - 10 and hb.ttfb.max_ns == 10_000_000 and hb.latency.count == 95
