"""Folds on the side thread (loadray.analysis.side): fed every batch in the pass's order,
their keys coded by the main thread, errors raised by the pass; same frames as inline."""

import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from test_analysis_ranks import START, sample_table

from loadray.analysis import per_second
from loadray.analysis.side import SideThread, on_side
from loadray.analysis.stream import Stream, TableSource
from loadray.analysis.timeseries import TimeFold


def test_calls_run_in_order_on_one_thread_and_errors_are_raised_at_finish():
    side, seen = SideThread(ahead=2), []
    for k in range(50):
        side.submit(lambda k=k: seen.append((k, threading.current_thread().name)))
    side.finish()
    assert [k for k, _ in seen] == list(range(50))
    assert {name for _, name in seen} != {threading.main_thread().name} and len({n for _, n in seen}) == 1

    failing = SideThread()
    failing.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.finish()


class SideFold:
    columns = frozenset({"worker"})
    side = True

    def __init__(self):
        self.batches, self.keys, self.threads = [], [], set()

    def declare(self, stream):
        pass

    def require(self, stream):
        pass

    def warm(self, b):
        b.value_keys("worker")

    def add(self, b):
        self.threads.add(threading.current_thread().name)
        self.batches.append(b.index)
        self.keys.append(b.__dict__["_value_keys"]["worker"])  # coded by warm, not here


def test_a_side_fold_sees_every_batch_in_order_with_keys_coded_on_the_main_thread():
    fold = SideFold()
    assert on_side([fold]) == ([], [fold])
    stream = Stream(TableSource(sample_table(), batch_rows=1_000))
    stream.run([fold])
    assert fold.batches == list(range(len(stream.source)))
    assert threading.main_thread().name not in fold.threads
    assert np.concatenate(fold.keys).size == sample_table().num_rows


def test_an_error_on_the_side_thread_fails_the_pass():
    class Broken(SideFold):
        def add(self, b):
            if b.index == 3:
                raise ValueError("side fold broke")

    with pytest.raises(ValueError, match="side fold broke"):
        Stream(TableSource(sample_table(), batch_rows=1_000)).run([Broken()])


def test_the_time_series_is_the_same_on_the_side_thread_or_inline(monkeypatch):
    table = sample_table()
    on_side_thread = per_second(table, START)
    monkeypatch.setattr(TimeFold, "side", False)
    inline = per_second(table, START)
    pd.testing.assert_frame_equal(on_side_thread, inline)
    assert on_side_thread["latency_p99_ms"].notna().sum() > 0


def _flow_table(n=12_000):
    """Rows with errors (and their details), retries, flows (two steps, the last with
    ``flow_ns``) and three workers: everything the summary's side-thread folds count."""
    from loadray.schema import SCHEMA, complete

    k = np.arange(n)
    err = np.where((k % 50 == 7) | (k % 90 == 1), "timeout", np.where(k % 70 == 3, "http_5xx", None)).astype(object)
    detail = np.where(err == "timeout", "TimeoutError: read timed out",
                      np.where(err == "http_5xx", "HTTP 503: Service Unavailable", None)).astype(object)
    in_flow = k % 10 < 2
    step = np.where(in_flow, np.where(k % 10 == 0, "buy/login", "buy/pay"), np.where(k % 2, "home", "search"))
    latency = 1_000_000 + (k * 7_919) % 9_000_000
    return complete({
        "intended_ns": START + k * 100_000, "sent_ns": START + k * 100_000 + 1_000,
        "latency_ns": latency, "service_ns": latency - 1_000,
        "status": np.where(err == "http_5xx", 503, np.where(err == "timeout", 0, 200)).astype(np.int16),
        "error": pa.array(err, SCHEMA.field("error").type),
        "step": pa.array(step.astype(object), SCHEMA.field("step").type),
        "phase": (k * 2 // n).astype(np.int16), "worker": (k % 3).astype(np.int16),
        "bytes_in": np.full(n, 100, np.int32),
        "attempt": np.where(k % 500 == 1, 2, 1).astype(np.int8),
        "flow_id": pa.array(k // 10, mask=~in_flow),
        "flow_ns": pa.array(latency * 2, mask=~(k % 10 == 1)),
        "error_detail": pa.array(detail, SCHEMA.field("error_detail").type),
    })


def test_the_summary_counts_flows_and_error_ways_fold_on_the_side_thread_alike(monkeypatch):
    from loadray.analysis import summarize
    from loadray.analysis.counts import Counts
    from loadray.analysis.summary import SummaryFold

    table = _flow_table()
    threads = set()
    add = Counts.add
    monkeypatch.setattr(Counts, "add", lambda self, b: (threads.add(threading.current_thread().name), add(self, b)))
    on_side_thread = summarize(table, batch_rows=1_000)
    assert threads and threading.main_thread().name not in threads
    monkeypatch.setattr(SummaryFold, "side", False)
    threads.clear()
    inline = summarize(table, batch_rows=1_000)
    assert threads == {threading.main_thread().name}
    assert on_side_thread == inline
    s = on_side_thread
    assert (s["intended"], s["workers"], s["retries"]) == (12_000, 3, 24)
    assert s["errors_by_kind"] == {"timeout": 374, "http_5xx": 172}
    assert (s["flows"]["buy"]["count"], s["flows"]["buy"]["failed"]) == (1_200, 134)  # a timeout on every 9th pay
    assert sorted(d["count"] for d in s["error_details"]) == [172, 374]
