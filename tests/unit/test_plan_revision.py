import numpy as np
import pytest

from loadray.plan import Profile, worker_chunks
from loadray.plan.revision import (
    Assignment,
    planned_count,
    plan_phases,
    split_at,
    with_base,
    with_rate,
)
from loadray.scenario.model import Phase

BASE = plan_phases([Phase(10, 200), Phase(10, 200, 600)])


def sends(a: Assignment, until_s: float = float("inf")):
    chunks = worker_chunks(Profile(a.phases), a.rank, a.workers, from_s=a.from_s)
    return [(k, t) for c in chunks for k, t in zip(c.ks, c.offsets_ns) if t < until_s * 1e9]


def test_split_keeps_shape_and_numbers():
    before, after = split_at(BASE, 15.0)
    assert [(p.duration_s, p.rate, p.to, p.number) for p in before] == [(10, 200, None, 0), (5, 200, 400, 1)]
    assert [(p.duration_s, p.rate, p.to, p.number) for p in after] == [(5, 400, 600, 1)]
    assert Profile(before + after).count(20) == Profile(BASE).count(20)


def test_rate_change_continues_the_count_and_holds_to_the_end():
    revised = with_rate(BASE, 5.0, 600, 20.0, number=2)
    assert [(p.duration_s, p.rate, p.number) for p in revised] == [(5, 200, 0), (15, 600, 2)]
    old, new = Profile(BASE), Profile(revised)
    assert new.count(5.0) == old.count(5.0) == 1000
    assert new.intended == 1000 + 15 * 600
    paused = with_rate(BASE, 5.0, 0, 20.0, number=3)
    assert Profile(paused).intended == 1000
    resumed = with_base(paused, 8.0, BASE)
    assert Profile(resumed).count(9.0) == pytest.approx(1000 + 200)


@pytest.mark.parametrize("t", [0.0, 3.3, 10.0, 12.5])
def test_redistribution_union_is_the_global_schedule(t):
    """3 workers until t, then worker 1 is gone and 2 survivors split the rest."""
    before = [Assignment(BASE, 3, r) for r in range(3)]
    after = [Assignment(BASE, 2, r, from_s=t, revision=1) for r in range(2)]
    ks = [k for a in before for k, _ in sends(a, t)] + [k for a in after for k, _ in sends(a)]
    assert sorted(ks) == list(range(Profile(BASE).intended))
    assert sum(planned_count(a, t) for a in before) + sum(planned_count(a, 20) for a in after) == len(ks)


def test_rate_change_union_is_evenly_spaced_after_the_change():
    revised = with_rate(BASE, 4.0, 1000, 20.0, number=2)
    old = [Assignment(BASE, 2, r) for r in range(2)]
    new = [Assignment(revised, 2, r, from_s=4.0, revision=1) for r in range(2)]
    times = sorted([t for a in old for _, t in sends(a, 4.0)] + [t for a in new for _, t in sends(a)])
    assert len(times) == 800 + 16 * 1000
    gaps = np.diff(np.array(times[800:]))
    assert gaps.min() >= 999_999 and gaps.max() <= 1_000_001


def test_planned_count_matches_sends():
    a = Assignment(BASE, 3, 2, from_s=2.5)
    assert planned_count(a, 11.0) == len(sends(a, 11.0))
