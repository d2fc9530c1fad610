"""The outbox keeps rows until acknowledged, hands them out again after a lost
answer, and spills beyond its memory bound without losing or reordering any."""

from __future__ import annotations

import os

import pyarrow as pa

from loadray.engine.outbox import Outbox


def batch(first: int, n: int = 1000) -> pa.RecordBatch:
    return pa.record_batch({"i": pa.array(range(first, first + n), pa.int64())})


def values(parcels) -> list[int]:
    return [v for p in parcels for v in p.batch.column("i").to_pylist()]


def test_unacknowledged_rows_are_handed_out_again():
    box = Outbox()
    box.put(batch(0), arrivals=1000)
    box.put(batch(1000), arrivals=1000)
    first = box.take(acked=0)
    assert [p.seq for p in first] == [1, 2]
    again = box.take(acked=0)  # the answer to the first call never came back
    assert values(again) == values(first)
    box.put(batch(2000), arrivals=7)
    rest = box.take(acked=2)
    assert [(p.seq, p.arrivals) for p in rest] == [(3, 7)]
    assert box.take(acked=3) == [] and box.rows == 0


def test_spills_oldest_beyond_the_bound_and_reads_them_back_in_order():
    box = Outbox(max_bytes=20_000, take_bytes=10**9)
    for k in range(10):
        box.put(batch(k * 1000), arrivals=1000)  # 8 kB each
    assert box.spilled_batches >= 7
    spill_dir = box._spill_dir
    assert spill_dir is not None and len(os.listdir(spill_dir)) == box.spilled_batches
    assert values(box.take(acked=0)) == list(range(10_000))
    box.take(acked=10)
    assert os.listdir(spill_dir) == []  # acknowledged: the spill files are gone
    box.close()
    assert not os.path.exists(spill_dir)


def test_take_is_bounded_per_call_but_always_makes_progress():
    box = Outbox(take_bytes=10_000)
    for k in range(4):
        box.put(batch(k * 1000), arrivals=1000)  # 8 kB each: one per call
    seen = []
    acked = 0
    while parcels := box.take(acked):
        assert len(parcels) == 1
        seen += values(parcels)
        acked = parcels[-1].seq
    assert seen == list(range(4000))


def test_take_all_acknowledges_everything():
    box = Outbox()
    box.put(batch(0, 5), arrivals=5)
    assert values(box.take_all()) == [0, 1, 2, 3, 4]
    assert box.take(acked=0) == [] and box.last_seq == 1
