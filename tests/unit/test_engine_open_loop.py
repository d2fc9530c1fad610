"""Pacing semantics on a fake clock: instant, deterministic, exact."""

import asyncio

import numpy as np
import pytest

from loadray.engine.clock import FakeClock
from loadray.engine.open_loop import OpenLoop
from loadray.engine.row_buffer import FAST_ROW, RowBuffer
from loadray.plan import Profile, worker_chunks
from loadray.scenario.model import Phase

MS = 1_000_000
START = 5_000 * MS


class DelayServer:
    """In-memory stand-in for a transport: answers after ``service(sent_ns)`` ns."""

    def __init__(self, clock, loop, service):
        self.clock, self.loop, self.service = clock, loop, service
        self.sent = []

    def submit(self, index, ctx, trace=0):
        now = self.clock.monotonic_ns()
        self.sent.append(now)
        self.clock.call_at(now + self.service(now), lambda: self.loop.on_done(ctx, 200, None, 3))


def run(phases, service, max_in_flight=1000, drop=False, workers=1, worker=0, stop_at=None):
    clock = FakeClock()
    buffer = RowBuffer(worker, ["root"], anchor_ns=0, fields=FAST_ROW)
    loop = OpenLoop(buffer, clock, 1, max_in_flight, drop_when_full=drop)
    server = DelayServer(clock, loop, service)
    if stop_at is not None:
        clock.call_at(START + stop_at, loop.stop)

    async def main():
        await loop.run(worker_chunks(Profile(phases), worker, workers), START, server.submit)
        if not loop.stopped:
            await clock.run_all()

    asyncio.run(main())
    return loop, buffer.flush().to_pandas(), server


def test_sends_at_intended_times_with_no_lag():
    loop, rows, server = run([Phase(2, 1000)], service=lambda t: 20 * MS)
    assert len(rows) == 2000 == loop.counters.sent == loop.counters.done
    assert (rows.sent_ns == rows.intended_ns).all()
    assert np.diff(server.sent).tolist() == [1 * MS] * 1999
    assert (rows.latency_ns == 20 * MS).all() and (rows.service_ns == 20 * MS).all()
    assert rows.bytes_in.sum() == 3 * 2000


def test_second_worker_is_offset_by_one_slot():
    _, rows, _ = run([Phase(1, 1000)], service=lambda t: MS, workers=2, worker=1)
    assert len(rows) == 500
    assert rows.intended_ns.iloc[0] - START == 1 * MS
    assert set(np.diff(rows.intended_ns)) == {2 * MS}


def stall(start_ms, length_ms, base_ms=5):
    """A server that holds every response until the stall window ends."""

    def service(t):
        begin, end = START + start_ms * MS, START + (start_ms + length_ms) * MS
        ready = t + base_ms * MS
        return (max(ready, end) if begin <= ready < end else ready) - t

    return service


def test_queue_mode_counts_the_stall_in_latency_not_in_service():
    """cap 10 at 1000/s: during a 500 ms stall 490 requests queue in the generator."""
    loop, rows, _ = run([Phase(2, 1000)], service=stall(1000, 500), max_in_flight=10)
    assert loop.counters.dropped == 0 and len(rows) == 2000
    queued = rows[rows.sent_ns > rows.intended_ns]
    assert len(queued) > 400
    # the first request that had to queue waited for the whole stall...
    assert queued.latency_ns.max() == pytest.approx(500 * MS + 5 * MS, abs=12 * MS)
    # ...while the service time of a queued request is only the server's own 5 ms or the
    # rest of the stall for those sent into it
    assert (queued.service_ns <= 500 * MS + 5 * MS).all()
    assert queued.service_ns.median() == 5 * MS
    assert (rows.latency_ns >= rows.service_ns).all()


def test_drop_mode_records_dropped_rows_and_keeps_accounting():
    loop, rows, _ = run([Phase(2, 1000)], service=stall(1000, 500), max_in_flight=10, drop=True)
    c = loop.counters
    assert c.intended == 2000 == len(rows)
    assert c.intended == c.sent + c.dropped
    dropped = rows[rows.error == "dropped"]
    assert len(dropped) == c.dropped == pytest.approx(490, abs=10)
    assert dropped.sent_ns.isna().all() and dropped.latency_ns.isna().all()
    # dropped rows sit inside the stall window
    assert (dropped.intended_ns - START).between(1000 * MS, 1510 * MS).all()


def test_stop_ends_sending_at_once():
    loop, rows, _ = run([Phase(10, 1000)], service=lambda t: MS, stop_at=2500 * MS)
    assert loop.counters.sent == 2500
    assert loop.counters.intended == loop.counters.sent


def test_ramp_spacing_follows_the_rate():
    _, rows, _ = run([Phase(2, 100, 300)], service=lambda t: MS)
    assert len(rows) == 400
    gaps = np.diff(rows.intended_ns.to_numpy()) / MS
    assert gaps[0] == pytest.approx(10, rel=0.01) and gaps[-1] == pytest.approx(3.33, rel=0.01)


def run_revised(base, duration_s, revisions):
    """Run ``base`` on a fake clock; each ``(at_s, phases, from_s)`` revision is handed to
    the pacer at ``at_s``, taking over from ``from_s``. Returns the rows."""
    clock = FakeClock()
    buffer = RowBuffer(0, ["root"], anchor_ns=0, fields=FAST_ROW)
    loop = OpenLoop(buffer, clock, 1, 1000)
    server = DelayServer(clock, loop, lambda t: MS)
    for at_s, phases, from_s in revisions:
        chunks = worker_chunks(Profile(phases), 0, 1, from_s=from_s)
        clock.call_at(START + int(at_s * 1e9), lambda c=chunks, f=from_s: loop.replan(c, int(f * 1e9)))

    async def main():
        end = START + int(duration_s * 1e9)
        await loop.run(worker_chunks(Profile(base), 0, 1), START, server.submit, end_ns=end)
        await clock.run_all()

    asyncio.run(main())
    return buffer.flush().to_pandas()


def test_replan_switches_at_the_cut_and_keeps_earlier_requests():
    """1000/s for 4 s, revised at 1 s to 2000/s: 1000 + 3 * 2000 requests, none twice."""
    from loadray.plan.revision import plan_phases, with_rate

    base = plan_phases([Phase(4, 1000)])
    rows = run_revised(base, 4.0, [(0.5, with_rate(base, 1.0, 2000, 4.0, number=1), 1.0)])
    assert len(rows) == 1000 + 6000
    assert rows.intended_ns.is_unique
    assert rows.groupby("phase").size().to_dict() == {0: 1000, 1: 6000}
    assert ((rows.intended_ns[rows.phase == 1] - START) >= 1_000 * MS).all()


def test_paused_worker_waits_for_a_revision_until_the_planned_end():
    from loadray.plan.revision import plan_phases, with_base, with_rate

    base = plan_phases([Phase(4, 100)])
    paused = with_rate(base, 1.0, 0, 4.0, number=1)
    resumed = with_base(paused, 3.0, base)
    rows = run_revised(base, 4.0, [(0.5, paused, 1.0), (2.5, resumed, 3.0)])
    seconds = ((rows.intended_ns - START) // 1_000_000_000).value_counts().sort_index().to_dict()
    assert seconds == {0: 100, 3: 100}


def test_a_late_revision_starts_where_it_arrived_without_a_burst():
    """1000/s revised to 2000/s from 1 s, but the revision only arrives at 1.5 s: the old
    schedule runs until 1.5 s, the new one's requests intended in [1, 1.5) s are skipped
    (counted), none is sent twice, no instant gets both schedules."""
    from loadray.plan.revision import plan_phases, with_rate

    base = plan_phases([Phase(4, 1000)])
    rows = run_revised(base, 4.0, [(1.5, with_rate(base, 1.0, 2000, 4.0, number=1), 1.0)])
    offsets = rows.intended_ns - START
    assert (offsets[rows.phase == 0] < 1_500 * MS).all()
    assert (offsets[rows.phase == 1] >= 1_500 * MS).all()
    assert rows.groupby("phase").size().to_dict() == {0: 1500, 1: 5000}
    assert rows.intended_ns.is_unique


def test_a_stop_with_requests_queued_for_the_cap_records_each_due_one_as_dropped():
    """cap 10 at 1000/s, a server that answers after 5 s, stopped at 2 s: 10 were sent,
    and every other request due by the stop is a ``dropped`` row: the archive holds the
    schedule up to the stop, not just what the cap let through."""
    loop, rows, _ = run([Phase(4, 1000)], service=lambda t: 5000 * MS, max_in_flight=10, stop_at=2000 * MS)
    c = loop.counters
    assert c.sent == 10 and c.intended == 2000 == c.sent + c.dropped
    dropped = rows[rows.error == "dropped"]
    assert len(dropped) == 1990 and dropped.sent_ns.isna().all()
    assert (dropped.intended_ns - START).max() == 1999 * MS  # nothing due at or after the stop


def test_a_fenced_worker_records_no_backlog():
    from loadray.engine.lease import Lease

    clock = FakeClock()
    buffer = RowBuffer(0, ["root"], anchor_ns=0, fields=FAST_ROW)
    lease = Lease(1000 * MS, until_ns=START + 1000 * MS)  # nobody renews it: it lapses at 1 s
    loop = OpenLoop(buffer, clock, 1, 10, lease=lease)
    server = DelayServer(clock, loop, lambda t: 5000 * MS)

    async def main():
        await loop.run(worker_chunks(Profile([Phase(4, 1000)]), 0, 1), START, server.submit)

    asyncio.run(main())
    c, rows = loop.counters, buffer.flush()
    assert lease.lapsed and c.sent == 10 == c.intended and c.dropped == 0
    assert rows is None or "dropped" not in rows.column("error").to_pylist()
