"""The lease: renewals extend it from their send time, a lapse fences for good, the
hard end caps it; the open loop sends nothing once it lapsed (fake clock)."""

from __future__ import annotations

import asyncio

import pytest

from loadray.engine.clock import FakeClock
from loadray.engine.lease import DECLARED_LOST, HARD_END, LAPSED, STOPPED, Lease
from loadray.engine.open_loop import OpenLoop
from loadray.engine.row_buffer import FAST_ROW, RowBuffer
from loadray.plan import Profile, worker_chunks
from loadray.scenario.model import Phase

S = 1_000_000_000


def test_renewal_extends_from_its_send_time_not_its_answer():
    lease = Lease(length_ns=2 * S)
    lease.grant(0, hard_end_ns=100 * S)
    assert lease.until_ns == 2 * S
    lease.renew(1 * S)  # sent at 1 s (answered whenever): holds until 3 s
    assert lease.until_ns == 3 * S
    lease.renew(int(0.5 * S))  # a late answer to an older renewal never shortens it
    assert lease.until_ns == 3 * S


@pytest.mark.parametrize(("now", "holds", "reason"), [
    (3 * S - 1, True, None),
    (3 * S, False, LAPSED),
])
def test_holds_strictly_before_the_end_then_fences(now, holds, reason):
    lease = Lease(length_ns=2 * S)
    lease.grant(1 * S, hard_end_ns=100 * S)
    assert lease.holds(now) is holds
    assert lease.reason == reason
    assert lease.fenced is (not holds)


def test_a_fenced_lease_never_holds_again_even_when_renewed():
    lease = Lease(length_ns=2 * S)
    lease.grant(0, hard_end_ns=100 * S)
    assert not lease.holds(5 * S)
    lease.renew(5 * S)  # the partition healed: a renewal is answered
    assert not lease.holds(5 * S + 1)
    assert lease.fenced_at_ns == 5 * S and lease.lapsed


def test_hard_end_caps_every_renewal():
    lease = Lease(length_ns=10 * S)
    lease.grant(0, hard_end_ns=4 * S)
    lease.renew(3 * S)
    assert lease.until_ns == 4 * S
    assert not lease.holds(4 * S)
    assert lease.reason == HARD_END and not lease.lapsed


@pytest.mark.parametrize(("reason", "lapsed"), [(STOPPED, False), (DECLARED_LOST, True)])
def test_fence_keeps_the_first_reason(reason, lapsed):
    lease = Lease(length_ns=S)
    lease.grant(0, hard_end_ns=10 * S)
    lease.fence(1, reason)
    lease.fence(2, LAPSED)
    assert lease.reason == reason and lease.lapsed is lapsed and lease.fenced_at_ns == 1


def test_open_loop_sends_nothing_after_the_lease_lapses():
    """1000 req/s; the lease granted at the start lasts 1.5 s and is never renewed:
    exactly the requests intended before 1.5 s are sent, then the loop stops."""

    async def main():
        clock = FakeClock()
        buffer = RowBuffer(0, ["r"], 0, fields=FAST_ROW)
        lease = Lease(length_ns=int(1.5 * S))
        loop = OpenLoop(buffer, clock, n_requests=1, max_in_flight=10_000, lease=lease)
        sent_at = []

        def submit(step, ctx, trace):
            sent_at.append(clock.monotonic_ns() - start)
            loop.on_done(ctx, 200, None, 0)

        start = clock.monotonic_ns()
        lease.grant(start, hard_end_ns=start + 100 * S)
        chunks = worker_chunks(Profile((Phase(5.0, 1000.0),)), 0, 1)
        await loop.run(chunks, start, submit, start + 5 * S)
        return loop, sent_at, lease

    loop, sent_at, lease = asyncio.run(main())
    assert len(sent_at) == 1500
    assert max(sent_at) < 1.5 * S
    assert loop.stopped and lease.reason == LAPSED
    assert loop.counters.intended == loop.counters.sent == 1500
