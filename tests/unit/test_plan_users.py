import pytest

from loadray.plan.mix import mix_wheel
from loadray.plan.profile import Profile
from loadray.plan.users import active_windows, max_users, owned_users, phase_at, users_at
from loadray.scenario.model import Phase


@pytest.mark.parametrize(
    "phases, user, windows",
    [
        ([Phase(10, 5)], 0, [(0, 10)]),
        ([Phase(10, 5)], 4, [(0, 10)]),
        ([Phase(10, 5)], 5, []),
        # ramp 0 -> 10 users over 10 s: user u joins at t = u + 1
        ([Phase(10, 0, 10)], 0, [(1, 10)]),
        ([Phase(10, 0, 10)], 6, [(7, 10)]),
        # ramp down 10 -> 0: user u leaves at t = 10 - (u + 1)
        ([Phase(10, 10, 0)], 3, [(0, 6)]),
        # constant then ramp: merged into one window
        ([Phase(5, 4), Phase(10, 4, 14)], 2, [(0, 15)]),
        ([Phase(5, 4), Phase(10, 4, 14)], 9, [(11, 15)]),
        # gap: 3 users, 1 user, 3 users again
        ([Phase(5, 3), Phase(5, 1), Phase(5, 3)], 2, [(0, 5), (10, 15)]),
    ],
)
def test_active_windows(phases, user, windows):
    got = active_windows(Profile(phases), user)
    assert [(round(a, 9), round(b, 9)) for a, b in got] == windows


def test_active_windows_from_a_revision_time():
    assert active_windows(Profile([Phase(10, 5)]), 1, from_s=4.0) == [(4.0, 10.0)]


def test_owned_users_spread_evenly():
    p = Profile([Phase(10, 3), Phase(10, 3, 10)])
    assert max_users(p) == 10
    assert owned_users(p, 0, 2) == [0, 2, 4, 6, 8]
    assert owned_users(p, 1, 3) == [1, 4, 7]
    assert users_at(p, 15.0) == 6  # 3 + 7 * 5/10 = 6.5 -> 6 whole users
    assert phase_at(p, 12.0) == 1 and phase_at(p, 25.0) == 1


def test_mix_wheel_is_exact_and_seeded():
    wheel = mix_wheel([30, 10, 20], seed=7)
    assert len(wheel) == 6 and [wheel.count(i) for i in range(3)] == [3, 1, 2]
    assert wheel == mix_wheel([30, 10, 20], seed=7)
    assert {mix_wheel([30, 10, 20], seed=s) for s in range(20)} != {wheel}  # the seed shuffles
    assert mix_wheel([1, 1, 1]) == (0, 1, 2)
    odd = mix_wheel([0.5, 0.5, 0.5, 2.0])
    assert [odd.count(i) for i in range(4)] == [143, 143, 143, 571]
    with pytest.raises(ValueError):
        mix_wheel([1, 0])
