"""The flow code of each instance id: a one-byte table over the ids' range, or pairs."""

import numpy as np

from loadray.analysis.flow_ids import DENSE_SPAN, InstanceCodes


def _fill(codes: InstanceCodes, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ids = rng.permutation(np.arange(1000, 3000, dtype=np.int64))
    flows = rng.integers(0, 5, ids.size)
    for part in range(0, ids.size, 300):  # batches of a pass, in any order
        codes.add(ids[part : part + 300], flows[part : part + 300])
    return ids, flows


def test_table_and_pairs_give_the_same_codes():
    rng = np.random.default_rng(3)
    table, pairs = InstanceCodes((1000, 2999)), InstanceCodes(None)
    ids, flows = _fill(table, np.random.default_rng(3))
    _fill(pairs, np.random.default_rng(3))
    assert table.dense and not pairs.dense
    asked = np.unique(np.concatenate([rng.choice(ids, 400, replace=False), [5, 999, 3000, 10**12]]))
    expected = np.sort(flows[np.isin(ids, asked)])
    assert np.array_equal(np.sort(table.codes_of(asked)), expected)
    assert np.array_equal(np.sort(pairs.codes_of(asked)), expected)
    assert expected.size == 400  # ids outside the range are no instance


def test_one_byte_per_id_of_the_range():
    codes = InstanceCodes((0, 5_000_000))
    codes.add(np.arange(0, 5_000_001, 20, dtype=np.int64), np.zeros(250_001, np.int64))
    assert codes._table is not None and codes._table.nbytes == 5_000_001
    assert codes.codes_of(np.array([0, 20, 21, 5_000_000], np.int64)).tolist() == [0, 0, 0]


def test_falls_back_to_pairs_past_the_range_or_254_flows():
    wide = InstanceCodes((0, DENSE_SPAN))
    assert not wide.dense
    codes = InstanceCodes((0, 99))
    codes.add(np.array([1, 2], np.int64), np.array([3, 4], np.int64))
    codes.add(np.array([7], np.int64), np.array([300], np.int64))  # a 301st flow: no longer a byte
    assert not codes.dense
    codes.add(np.array([150], np.int64), np.array([1], np.int64))  # outside the statistics' range
    assert sorted(codes.codes_of(np.array([1, 2, 7, 8, 150], np.int64)).tolist()) == [1, 3, 4, 300]
