"""planned = rows + lost + unknown, per incarnation: one row per case (300 req/s over
3 workers for 20 s, so each worker's share is 100 req/s)."""

from __future__ import annotations

import math

import pytest

from loadray.fleet.accounting import Delivery, Share, Tally, orphaned, scheduled, tally
from loadray.plan.revision import Assignment, PlanPhase

PLAN = (PlanPhase(20.0, 300.0, None, 0),)
END = 20.0


def share(rank=2, until=END, lost=False, silent_from=math.inf, workers=3, from_s=0.0) -> Share:
    return Share(rank, 0, ((Assignment(PLAN, workers, rank, from_s), until),), lost, silent_from)


CASES = [
    # name, share, delivery, stop_s, expected (planned, rows, lost, unknown)
    ("ran to the end, delivered all", share(), Delivery(2000, 2000, True), END, (2000, 2000, 0, 0)),
    ("stopped early at 5 s: what it walked", share(), Delivery(500, 500, True), 5.0, (500, 500, 0, 0)),
    ("finished but a row missing: unknown", share(), Delivery(1999, 2000, True), END, (2000, 1999, 0, 1)),
    ("fenced at 7 s, share closed at 8 s, came back",
     share(until=8.0, lost=True, silent_from=7.0), Delivery(700, 700, True), END, (800, 700, 100, 0)),
    ("host never came back: silent from 7 s, rows to 6 s",
     share(until=8.0, lost=True, silent_from=7.0), Delivery(600, None, False), END, (800, 600, 100, 100)),
    ("host never came back, the run aborted at 7.5 s",
     share(until=8.0, lost=True, silent_from=7.0), Delivery(600, None, False), 7.5, (750, 600, 50, 100)),
    ("nothing ever reached the archive", share(until=8.0, lost=True, silent_from=7.0), Delivery(), END,
     (800, 0, 100, 700)),
    ("a late revision skipped 100: never sent", share(), Delivery(1900, 1900, True, skipped=100), END,
     (2000, 1900, 100, 0)),
    ("a replacement from 9 s, delivered all", share(from_s=9.0), Delivery(1100, 1100, True), END,
     (1100, 1100, 0, 0)),
]


@pytest.mark.parametrize(("name", "s", "d", "stop_s", "expected"), CASES, ids=[c[0] for c in CASES])
def test_identity_per_incarnation(name, s, d, stop_s, expected):
    t = tally(s, d, stop_s)
    assert (t.planned, t.rows, t.lost, t.unknown) == expected
    assert t.planned == t.rows + t.lost + t.unknown


def test_scheduled_counts_each_assignment_until_it_closed():
    redistributed = Share(0, 0, (
        (Assignment(PLAN, 3, 0), 8.0),  # a third of 300/s for 8 s
        (Assignment(PLAN, 2, 0, from_s=8.0, revision=1), END),  # half of it from 8 s
    ))
    assert scheduled(redistributed, END) == 800 + 1800
    assert scheduled(redistributed, 5.0) == 500


def test_closed_model_counts_only_what_was_reported():
    t = tally(share(), Delivery(40, 42, False), END, scheduled_model=False)
    assert (t.planned, t.rows, t.lost, t.unknown) == (42, 40, 0, 2)


def test_tallies_add_up():
    assert Tally(1, 2, 3, 4) + Tally(10, 20, 30, 40) == Tally(11, 22, 33, 44)


@pytest.mark.parametrize("planned, rows, expected", [
    (1367, 1114, Tally(1367, 1114, 0, 253)),  # the plan until the stop; what has no row may have been sent
    (1000, 1000, Tally(1000, 1000, 0, 0)),
    (900, 950, Tally(950, 950, 0, 0)),  # never fewer planned than rows (a rate raised by `loadray control`)
    (None, 70, Tally(70, 70, 0, 0)),  # the closed model: no count in the plan
])
def test_orphaned_runs_count_what_has_no_row_as_unknown(planned, rows, expected):
    assert orphaned(planned, rows) == expected
