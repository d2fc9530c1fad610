"""Fault math of the built-in target, with a fake clock: no sleeping, no sockets."""

from __future__ import annotations

import random

import pytest

from helpers import FakeSeconds
from loadray.target.faults import FaultModel, stall_release, validate_options
from loadray.target.options import TargetOptions


@pytest.mark.parametrize(
    ("t", "every", "length", "expected"),
    [
        (5.1, 5.0, 0.5, 5.5),  # inside the first window: released at its end
        (5.0, 5.0, 0.5, 5.5),  # window start is inside
        (5.4999, 5.0, 0.5, 5.5),
        (5.5, 5.0, 0.5, 5.5),  # window end is outside: unaffected
        (5.6, 5.0, 0.5, 5.6),
        (0.1, 5.0, 0.5, 0.1),  # k starts at 1: no stall at server start
        (4.99, 5.0, 0.5, 4.99),
        (10.2, 5.0, 0.5, 10.5),  # second window
        (12.0, 5.0, 0.5, 12.0),
        (1000.25, 5.0, 0.5, 1000.5),
        (3.25, 1.5, 0.25, 3.25),  # 3.0 + 0.25 is the end: outside
        (3.1, 1.5, 0.25, 3.25),
        (5.1, 0.0, 0.5, 5.1),  # disabled
        (5.1, 5.0, 0.0, 5.1),  # disabled
    ],
)
def test_stall_release_table(t, every, length, expected):
    assert stall_release(t, every, length) == pytest.approx(expected)


def test_stall_arrival_during_window_completes_at_window_end():
    clock = FakeSeconds(100.0)
    model = FaultModel(TargetOptions(stall_every_s=5.0, stall_for_s=0.5), clock=clock)
    clock.now = 105.1
    d = model.decide()
    assert d.status == 200
    assert d.ready_at == pytest.approx(105.5)
    clock.now = 106.0  # outside: immediate
    assert model.decide().ready_at == pytest.approx(106.0)


def test_stall_applies_to_ready_time_not_arrival():
    clock = FakeSeconds(0.0)
    options = TargetOptions(latency_s=0.2, stall_every_s=5.0, stall_for_s=0.5)
    model = FaultModel(options, clock=clock)
    # arrives before the window, would be ready inside it -> held to the window's end
    assert model.decide(arrival=4.9).ready_at == pytest.approx(5.5)
    # arrives inside the window, ready after it -> only its own latency
    assert model.decide(arrival=5.4).ready_at == pytest.approx(5.6)
    assert model.decide(arrival=2.0).ready_at == pytest.approx(2.2)


def test_stall_windows_are_measured_from_start():
    clock = FakeSeconds(1000.0)
    model = FaultModel(TargetOptions(stall_every_s=2.0, stall_for_s=0.5), clock=clock)
    assert model.start == 1000.0
    assert model.decide(arrival=1002.1).ready_at == pytest.approx(1002.5)
    assert model.decide(arrival=1001.1).ready_at == pytest.approx(1001.1)


def test_latency_without_jitter_is_exact():
    model = FaultModel(TargetOptions(latency_s=0.02), clock=FakeSeconds(50.0))
    for arrival in (50.0, 51.25, 99.0):
        assert model.decide(arrival=arrival).ready_at == pytest.approx(arrival + 0.02)


def test_jitter_is_uniform_within_bounds_and_seeded():
    options = TargetOptions(latency_s=0.02, jitter_s=0.005, seed=7)
    delays = [FaultModel(options, clock=FakeSeconds()).delay() for _ in range(3)]
    assert delays[0] == delays[1] == delays[2]  # same seed, same first draw
    model = FaultModel(options, clock=FakeSeconds())
    draws = [model.delay() for _ in range(10_000)]
    assert min(draws) >= 0.02 and max(draws) <= 0.025
    assert sum(draws) / len(draws) == pytest.approx(0.0225, abs=0.0001)
    other = FaultModel(TargetOptions(latency_s=0.02, jitter_s=0.005, seed=8), clock=FakeSeconds())
    assert [other.delay() for _ in range(5)] != draws[:5]


@pytest.mark.parametrize("rate", [0.01, 0.1, 0.5])
def test_error_fraction_over_10000_draws(rate):
    model = FaultModel(TargetOptions(error_rate=rate, seed=0), clock=FakeSeconds())
    statuses = [model.decide().status for _ in range(10_000)]
    assert set(statuses) <= {200, 500}
    fraction = statuses.count(500) / len(statuses)
    # 4 standard deviations of a binomial proportion
    assert abs(fraction - rate) <= 4 * (rate * (1 - rate) / 10_000) ** 0.5


@pytest.mark.parametrize(("rate", "expected"), [(0.0, {200}), (1.0, {500})])
def test_error_rate_bounds(rate, expected):
    model = FaultModel(TargetOptions(error_rate=rate), clock=FakeSeconds())
    assert {model.decide().status for _ in range(1000)} == expected


def test_errors_are_reproducible_from_seed():
    def run(seed):
        model = FaultModel(TargetOptions(error_rate=0.3, seed=seed), clock=FakeSeconds())
        return [model.status() for _ in range(200)]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_injected_rng_is_used():
    model = FaultModel(TargetOptions(jitter_s=1.0), clock=FakeSeconds(), rng=random.Random(42))
    assert model.delay() == random.Random(42).uniform(0.0, 1.0)


def test_active_only_when_a_fault_is_configured():
    assert not FaultModel(TargetOptions(), clock=FakeSeconds()).active
    assert not FaultModel(TargetOptions(stall_every_s=5.0), clock=FakeSeconds()).active
    assert FaultModel(TargetOptions(latency_s=0.001), clock=FakeSeconds()).active
    assert FaultModel(TargetOptions(error_rate=0.5), clock=FakeSeconds()).active
    assert FaultModel(TargetOptions(stall_every_s=5.0, stall_for_s=0.1), clock=FakeSeconds()).active


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (TargetOptions(port=70000), "port"),
        (TargetOptions(latency_s=-0.1), "latency_s"),
        (TargetOptions(jitter_s=float("inf")), "jitter_s"),
        (TargetOptions(error_rate=1.5), "error_rate"),
        (TargetOptions(error_rate=-0.01), "error_rate"),
        (TargetOptions(stall_every_s=1.0, stall_for_s=1.0), "stall_for_s"),
    ],
)
def test_validate_options_names_the_field(options, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        validate_options(options)


def _refusal(options: TargetOptions) -> str | None:
    """The field ``validate_options`` names, or None when it accepts ``options``."""
    try:
        validate_options(options)
    except ValueError as exc:
        return str(exc).split(":", 1)[0]
    return None


@pytest.mark.parametrize(
    ("accepted", "refused", "field"),
    [  # each bound: the last value inside is served, the first one outside names the field
        (TargetOptions(port=65535), TargetOptions(port=65536), "port"),
        (TargetOptions(port=0), TargetOptions(port=-1), "port"),
        (TargetOptions(error_rate=1.0), TargetOptions(error_rate=1.0001), "error_rate"),
        (TargetOptions(error_rate=0.0), TargetOptions(error_rate=-1e-9), "error_rate"),
        (TargetOptions(latency_s=0.0), TargetOptions(latency_s=-1e-9), "latency_s"),
        (TargetOptions(stall_every_s=5.0, stall_for_s=4.999), TargetOptions(stall_every_s=5.0, stall_for_s=5.0),
         "stall_for_s"),
        (TargetOptions(8080, 0.02, 0.005, 0.01, 5.0, 0.5, 3), TargetOptions(8080, 0.02, float("nan")), "jitter_s"),
    ],
)
def test_validate_options_accepts_up_to_each_bound_and_refuses_past_it(accepted, refused, field):
    assert (_refusal(TargetOptions()), _refusal(accepted), _refusal(refused)) == (None, None, field)
