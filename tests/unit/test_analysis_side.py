"""Folds on the side thread (loadray.analysis.side): fed every batch in the pass's order,
their keys coded by the main thread, errors raised by the pass; same frames as inline."""

import threading

import numpy as np
import pandas as pd
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
