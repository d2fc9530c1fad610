import numpy as np
import pytest

from loadray.analysis import sort_groups
from loadray.analysis.percentiles import QUANTILES, latency_stats, sorted_percentiles, sorted_stats

QS = [0, 0.1, 1, 25, 33.3333, 50, 75, 90, 95, 99, 99.9, 99.99, 100]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 11, 100, 101, 999, 1000, 4097])
def test_sorted_percentiles_are_bit_identical_to_numpy(n):
    rng = np.random.default_rng(n)
    for _ in range(20):
        values = np.sort(rng.integers(-(10**9), 10**12, n))
        got = sorted_percentiles(values, np.array([0]), np.array([n]), QS)[0]
        assert np.array_equal(got, np.percentile(values, QS))  # exact, not approximately


def test_known_answers_one_to_ten():
    values = np.arange(1, 11, dtype=np.int64)  # 1..10
    got = sorted_percentiles(values, np.array([0]), np.array([10]), [0, 50, 90, 95, 100])[0]
    # h = 9q: p50 -> 4.5 -> 5.5; p90 -> 8.1 -> 9.1; p95 -> 8.55 -> 9.55
    assert got.tolist() == pytest.approx([1.0, 5.5, 9.1, 9.55, 10.0], abs=1e-12)


def test_many_groups_at_once_and_empty_groups():
    values = np.array([5, 1, 3, 10, 20, 7], dtype=np.int64)
    keys = np.array([2, 0, 2, 0, 2, 2], dtype=np.int16)
    sg = sort_groups(keys, values, 4)  # group 1 and 3 are empty
    assert sg.counts.tolist() == [2, 0, 4, 0]
    assert sg.group(0).tolist() == [1, 10] and sg.group(2).tolist() == [3, 5, 7, 20]
    table = sg.percentiles([50, 99])
    assert table[0].tolist() == np.percentile([1, 10], [50, 99]).tolist()
    assert table[2].tolist() == np.percentile([3, 5, 7, 20], [50, 99]).tolist()
    assert np.isnan(table[1]).all() and np.isnan(table[3]).all()
    assert sg.max().tolist()[0::2] == [10.0, 20.0] and np.isnan(sg.max()[1])
    assert sg.min().tolist()[0::2] == [1.0, 3.0]


def test_mask_selects_rows_and_inputs_are_left_alone():
    values = np.array([9, 8, 7, 6], dtype=np.int64)
    keys = np.array([1, 1, 0, 0], dtype=np.int8)
    before = values.copy()
    sg = sort_groups(keys, values, 2, mask=np.array([True, False, True, True]))
    assert sg.group(0).tolist() == [6, 7] and sg.group(1).tolist() == [9]
    assert np.array_equal(values, before)


def test_negative_values_and_a_span_too_wide_to_pack():
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 3, 1000).astype(np.int16)
    for values in (rng.integers(-(10**6), 10**6, 1000), rng.integers(-(2**62), 2**62, 1000)):
        sg = sort_groups(keys, values, 3)
        for g in range(3):
            assert np.array_equal(sg.group(g), np.sort(values[keys == g]))


def test_sorted_stats_equal_latency_stats():
    rng = np.random.default_rng(9)
    values = rng.integers(1, 10**9, 5001)
    assert sorted_stats(np.sort(values)) == latency_stats(values.copy())
    assert set(QUANTILES) <= set(sorted_stats(np.sort(values)))
    assert sorted_stats(np.array([], np.int64))["p99"] is None
