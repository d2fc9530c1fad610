"""A worker host's clock offset from round trips (the shortest one, around its middle),
what the run's placement records of it, and the warning a large one gets."""

from __future__ import annotations

import time

import pytest

from loadray.engine.clock import FakeClock, ShiftedClock
from loadray.engine.worker import WorkerReady
from loadray.fleet.clock_offset import SKEW_WARN_NS, ClockOffset, clock_offset, skew_warning
from loadray.fleet.conductor import Conductor
from loadray.scenario import parse_scenario

MS = 1_000_000


@pytest.mark.parametrize("samples, offset, error", [
    ([(0, 2_000 * MS + 1 * MS, 2 * MS)], 2_000 * MS, 1 * MS),  # read at the middle of a 2 ms trip
    ([(0, -2_000 * MS + 5 * MS, 10 * MS), (20 * MS, -1_980 * MS + 1 * MS, 22 * MS)], -2_000 * MS, 1 * MS),
    ([(0, 7, 0)], 7, 0),  # an instant trip: exact
    ([(0, 100, 3)], 99, 2),  # odd trips round the error up
])
def test_the_shortest_round_trip_gives_the_offset_and_its_bound(samples, offset, error):
    assert clock_offset(samples) == ClockOffset(offset, error)


def test_a_slow_round_trip_only_widens_the_bound():
    # the worker answered anywhere inside 0..40 ms: the estimate is off by at most the bound
    for read_at in (0, 10 * MS, 40 * MS):
        found = clock_offset([(0, 500 * MS + read_at, 40 * MS)])
        assert abs(found.offset_ns - 500 * MS) <= found.error_ns == 20 * MS


def test_an_offset_within_its_own_uncertainty_is_not_corrected():
    assert ClockOffset(119_000, 560_000).correction_ns == 0  # a worker on the driver's host
    assert ClockOffset(-560_000, 560_000).correction_ns == 0
    assert ClockOffset(-560_001, 560_000).correction_ns == -560_001
    assert ClockOffset(2_000 * MS, 1_600_000).correction_ns == 2_000 * MS


def test_a_first_lease_is_shortened_by_the_uncertainty_but_never_by_more_than_50_ms():
    assert ClockOffset(2_000 * MS, 1_600_000).grant_slack_ns == 1_600_000
    assert ClockOffset(0, 400 * MS).grant_slack_ns == 50 * MS  # a starved machine's 800 ms round trips


@pytest.mark.parametrize("samples", [[], [(5, 0, 4)]])
def test_no_or_backward_round_trips_are_refused(samples):
    with pytest.raises(ValueError):
        clock_offset(samples)


def test_only_an_offset_over_50_ms_is_warned_about():
    assert skew_warning(1, ClockOffset(SKEW_WARN_NS, 1 * MS)) is None
    assert skew_warning(1, ClockOffset(-SKEW_WARN_NS, 1 * MS)) is None
    assert skew_warning(2, ClockOffset(2_000 * MS, 1_600_000)) == (
        "worker 2's host clock is 2,000.0 ms ahead of the driver's (+-1.6 ms): loadray corrected its schedule, "
        "lease and timestamps; check the hosts' time sync (NTP)")
    assert "is 50.0 ms behind the driver's" in skew_warning(0, ClockOffset(-SKEW_WARN_NS - 1, 0))


def test_the_placement_records_each_hosts_offset_and_the_run_warns_once_per_skewed_host():
    doc = {"name": "c", "target": "http://127.0.0.1:9", "workers": 3,
           "load": {"phases": [{"duration": "5s", "rate": 30}]}, "requests": [{"path": "/"}]}
    c = Conductor(parse_scenario(doc), FakeClock())
    c.joined(WorkerReady(0, 100, "h", 0, node="a", clock_offset_ns=12 * MS, clock_error_ns=500_000))
    c.joined(WorkerReady(1, 101, "h", 0, node="b", clock_offset_ns=-2_000 * MS, clock_error_ns=1_200_000))
    c.joined(WorkerReady(2, 102, "h", 0, node="c"))  # not measured (no coordinator in between)
    assert [(p.clock_offset_ms, p.clock_error_ms) for p in c.placement] == [(12.0, 0.5), (-2000.0, 1.2), (None, None)]
    assert [w for w in c.watch.warnings if "host clock" in w] == [
        "worker 1's host clock is 2,000.0 ms behind the driver's (+-1.2 ms): loadray corrected its schedule, "
        "lease and timestamps; check the hosts' time sync (NTP)"]


def test_a_shifted_clock_reads_the_wall_as_the_driver_and_leaves_monotonic_time_alone():
    shifted = ShiftedClock(2_000 * MS)
    assert abs(time.time_ns() - 2_000 * MS - shifted.wall_ns()) < 50 * MS
    assert shifted.monotonic_ns is time.monotonic_ns  # the system's own: nothing added per request
