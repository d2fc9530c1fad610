import numpy as np
import pytest

from loadray.live.histogram import LogHistogram, merge_all


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99, 0.999])
@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).lognormal(np.log(20e6), 0.5, 100_000),
        np.random.default_rng(2).exponential(5e6, 50_000) + 1e6,
        np.linspace(1e6, 1e9, 10_001),
    ],
)
def test_quantiles_within_one_percent_of_exact(values, q):
    values = values.astype(np.int64)
    exact = np.percentile(values, q * 100)
    assert LogHistogram.of(values).quantile_ns(q) == pytest.approx(exact, rel=0.01)


def test_merge_equals_histogram_of_union():
    rng = np.random.default_rng(3)
    parts = [rng.integers(1_000, 10_000_000, 5_000) for _ in range(4)]
    merged = merge_all(LogHistogram.of(p) for p in parts)
    whole = LogHistogram.of(np.concatenate(parts))
    assert np.array_equal(merged.index, whole.index) and np.array_equal(merged.counts, whole.counts)
    assert merged.count == 20_000 and merged.total_ns == whole.total_ns and merged.max_ns == whole.max_ns
    assert LogHistogram.of(parts[0]).merge(LogHistogram.of(parts[1])).count == 10_000


def test_empty_and_edges():
    assert LogHistogram.empty().quantile_ns(0.5) is None
    assert merge_all([]).count == 0
    h = LogHistogram.of(np.array([0, 1, 5_000_000]))
    assert h.count == 3 and h.max_ns == 5_000_000
    assert h.quantile_ns(1.0) == 5_000_000  # capped at the exact max
