import numpy as np

from loadray.analysis import histogram, spectrum
from loadray.analysis.distribution import spectrum_percentiles


def test_spectrum_grid_is_log_spaced_in_one_over_one_minus_q():
    pct = spectrum_percentiles(1000, per_decade=1)
    assert pct.tolist() == [0.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 100.0]
    fine = spectrum_percentiles(10**6)
    assert fine[0] == 0.0 and fine[-1] == 100.0 and 99.9999 in fine.round(10)
    assert np.all(np.diff(fine) > 0)
    assert spectrum_percentiles(0).size == 0


def test_spectrum_values_equal_numpy_percentiles():
    rng = np.random.default_rng(2)
    lat = np.sort(rng.integers(10**5, 10**9, 50_000))
    svc = np.sort(lat[::2] - 1000)
    df = spectrum({"latency": lat, "service": svc})
    assert df.index.name == "percentile" and list(df.columns) == ["inv_tail", "latency_ms", "service_ms"]
    for pct, r in df.iterrows():
        assert r["latency_ms"] == round(float(np.percentile(lat, pct)) / 1e6, 3)
        assert r["service_ms"] == round(float(np.percentile(svc, pct)) / 1e6, 3)
        assert r["inv_tail"] == (50_000 if pct == 100 else 1 / (1 - pct / 100))
    assert df.loc[100.0, "latency_ms"] == round(lat[-1] / 1e6, 3)


def test_histogram_counts_every_value_once():
    values = np.sort(np.array([500, 2_000, 2_000, 10_000_000, 10_000_000, 20_000_000], dtype=np.int64))
    h = histogram(values, bins=10)
    assert h["count"].sum() == 6 and h["count"].iloc[0] == 3 and h["count"].iloc[-1] == 3  # 7.4..20 ms
    assert h["cdf"].iloc[-1] == 1.0 and np.all(np.diff(h["cdf"]) >= 0)
    assert h["lo_ms"].iloc[0] == 0.001 and h["hi_ms"].iloc[-1] >= 20.0  # 1 µs .. the max
    assert len(histogram(np.array([], np.int64))) == 0
