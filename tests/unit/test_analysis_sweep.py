"""Per-bucket exact percentiles swept in time order: ordered and unordered batches, frontiers."""

from types import SimpleNamespace

import numpy as np

from loadray.analysis.groupings import Bucket
from loadray.analysis.percentiles import BREAKDOWN_QUANTILES
from loadray.analysis.sweep import BucketPercentiles

S = 1_000_000_000
START = 1_700_000_000 * S


def _arrays(intended: np.ndarray, latency: np.ndarray) -> SimpleNamespace:
    has = latency > 0
    return SimpleNamespace(intended_ns=intended, latency_ns=latency, service_ns=latency // 2,
                           has_latency=has, has_service=has)


def _swept(batches, frontiers) -> dict:
    swept = BucketPercentiles(Bucket(START, S, 40))
    for (intended, latency), frontier in zip(batches, frontiers):
        swept.add(_arrays(intended, latency), frontier)
    swept.finish()
    return swept.columns(40)


def test_batches_ordered_or_not_give_numpys_percentiles_per_bucket():
    rng = np.random.default_rng(5)
    # four "workers" of 10 s each, in time order: batch k covers seconds [8k, 8k + 10)
    batches = []
    for k in range(4):
        intended = np.sort(START + 8 * k * S + rng.integers(0, 10 * S, 5000))
        latency = rng.integers(0, 50_000_000, 5000)  # a few zeros: no latency
        batches.append((intended, latency))
    frontiers = [START + 8 * (k + 1) * S for k in range(3)] + [None]
    ordered = _swept(batches, frontiers)
    shuffled = [(i[p], v[p]) for i, v in batches for p in [rng.permutation(i.size)]]
    assert all(np.array_equal(ordered[c], found, equal_nan=True) for c, found in _swept(shuffled, frontiers).items())
    intended = np.concatenate([i for i, _ in batches])
    latency = np.concatenate([v for _, v in batches])
    for second in (0, 9, 17, 33):
        rows = ((intended - START) // S == second) & (latency > 0)
        for key, q in BREAKDOWN_QUANTILES.items():
            want = round(float(np.percentile(latency[rows], q)) / 1e6, 3)
            assert ordered[f"latency_{key}_ms"][second] == want, (second, key)
        assert ordered["service_max_ms"][second] == round(float((latency[rows] // 2).max()) / 1e6, 3)
    assert np.isnan(ordered["latency_p50_ms"][39])  # no row in the last bucket
