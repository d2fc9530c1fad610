import itertools

import numpy as np
import pytest

from loadray.plan import Profile, worker_chunks, worker_share
from loadray.scenario.model import Phase


def offsets(profile, worker, workers):
    return [t for c in worker_chunks(profile, worker, workers, chunk=97) for t in c.offsets_ns]


@pytest.mark.parametrize(
    "phases, intended",
    [
        ([Phase(10, 1000)], 10000),
        ([Phase(10, 500), Phase(20, 500, 2000)], 5000 + 25000),
        ([Phase(1, 0.5)], 1),  # 0.5 requests intended -> the one at t=0
        ([Phase(2, 0.5)], 1),
        ([Phase(3, 0.5)], 2),
        ([Phase(10, 100, 0)], 500),  # ramp down to zero
        ([Phase(4, 0, 100)], 200),  # ramp up from zero
        ([Phase(1, 100), Phase(1, 150), Phase(1, 200)], 450),
    ],
)
def test_intended_count(phases, intended):
    profile = Profile(phases)
    assert profile.intended == intended
    assert sum(worker_share(intended, w, 3) for w in range(3)) == intended
    assert sum(len(offsets(profile, w, 3)) for w in range(3)) == intended


@pytest.mark.parametrize(
    "phases, t, rate, count",
    [
        ([Phase(10, 1000)], 0.0, 1000, 0),
        ([Phase(10, 1000)], 2.5, 1000, 2500),
        ([Phase(10, 1000)], 10.0, 0, 10000),
        ([Phase(10, 500), Phase(20, 500, 2000)], 10.0, 500, 5000),
        ([Phase(10, 500), Phase(20, 500, 2000)], 20.0, 1250, 5000 + 10 * (500 + 1250) / 2),
        ([Phase(10, 500), Phase(20, 500, 2000)], 29.999, pytest.approx(2000, abs=0.1), pytest.approx(30000, abs=2)),
        ([Phase(4, 0, 100)], 2.0, 50, 50),
    ],
)
def test_rate_and_count(phases, t, rate, count):
    profile = Profile(phases)
    assert profile.rate(t) == rate
    assert profile.count(t) == count


@pytest.mark.parametrize(
    "phases, k, t",
    [
        ([Phase(10, 1000)], 0, 0.0),
        ([Phase(10, 1000)], 1, 0.001),
        ([Phase(10, 1000)], 9999, 9.999),
        ([Phase(1, 100), Phase(1, 200)], 100, 1.0),
        ([Phase(1, 100), Phase(1, 200)], 101, 1.005),
        ([Phase(4, 0, 100)], 50, 2.0),  # N(t) = 12.5 t^2
        ([Phase(4, 0, 100)], 200 - 1, pytest.approx(np.sqrt(199 / 12.5))),
        ([Phase(10, 100, 0)], 375, pytest.approx(5.0)),  # N(5) = 100*5 - 5*25 = 375
    ],
)
def test_time_of_is_inverse_of_count(phases, k, t):
    profile = Profile(phases)
    assert profile.time_of(k) == pytest.approx(t, abs=1e-12)
    assert profile.count(profile.time_of(k)) == pytest.approx(k, abs=1e-6)


@pytest.mark.parametrize("workers", [1, 2, 3, 7])
@pytest.mark.parametrize(
    "phases",
    [
        [Phase(2, 1000)],
        [Phase(1, 300), Phase(2, 300, 900)],
        [Phase(0.5, 50), Phase(0.5, 5000)],
        [Phase(4, 0, 100), Phase(2, 100, 0)],
    ],
)
def test_union_of_worker_schedules_is_the_global_schedule(phases, workers):
    profile = Profile(phases)
    union = sorted(itertools.chain.from_iterable(offsets(profile, w, workers) for w in range(workers)))
    expected = [round(profile.time_of(k) * 1e9) for k in range(profile.intended)]
    assert union == expected


def test_workers_interleave_without_bursts():
    """At 1000 req/s on 4 workers, each 10 ms window holds exactly 10 sends (no 4-fold bursts)."""
    profile = Profile([Phase(1, 1000)])
    union = np.sort(np.concatenate([offsets(profile, w, 4) for w in range(4)]))
    per_10ms = np.bincount((union // 10_000_000).astype(int))
    assert per_10ms.tolist() == [10] * 100
    gaps = np.diff(union)
    assert gaps.min() == gaps.max() == 1_000_000
    # each worker alone is evenly spaced at 4 ms
    assert set(np.diff(offsets(profile, 1, 4))) == {4_000_000}


def test_chunks_carry_the_phase_index():
    profile = Profile([Phase(1, 10), Phase(1, 20)])
    phases = [(c.phase, len(c.ks)) for c in worker_chunks(profile, 0, 1)]
    assert phases == [(0, 10), (1, 20)]


def test_worker_index_checked():
    with pytest.raises(ValueError):
        list(worker_chunks(Profile([Phase(1, 10)]), 2, 2))
