"""Exact ranks in bounded memory (loadray.analysis.ranks / rank_view / stream): every
value read back equals numpy's sorted array at that rank, whatever the batches, the
warm-up, the drift between batches, the views and the rounds of the second pass."""

import numpy as np
import pyarrow as pa
import pytest

from loadray.analysis.bins import LogBins
from loadray.analysis.groupings import ALL, BY_STEP, STEP_PHASE, by, step_phase_views
from loadray.analysis.quantiles import require, stats, table
from loadray.analysis.ranks import Ranked
from loadray.analysis.stream import Stream, TableSource
from loadray.schema import SCHEMA

START = 1_700_000_000_000_000_000
QS = (0.5, 0.9, 0.99, 0.999)


def test_log_bins_are_monotone_and_clip_outside_the_window():
    bins = LogBins(10, 1_000, 10**9)
    values = np.array([-5, 0, 1, 999, 1_000, 1_001, 123_456_789, 10**9, 10**12], np.int64)
    got = bins.of(values)
    assert (np.diff(got) >= 0).all()
    assert got[0] == got[1] == got[2] == got[3] == 0  # below the window, and <= 0
    assert got[4] == 1 and got[-1] == bins.size - 1
    every = np.sort(np.random.default_rng(3).integers(0, 10**13, 100_000))
    assert (np.diff(LogBins(7).of(every)) >= 0).all()


def drifting_batches(batches=40, rows=5_000, groups=5, seed=1):
    """Latencies whose scale changes from batch to batch (a run that slows down and
    recovers), a few zeros and huge outliers."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(batches):
        keys = rng.integers(0, groups, rows)
        values = rng.lognormal(np.log(5e6 * (1 + (k % 7) * 0.4)), 0.6, rows).astype(np.int64)
        values[rng.random(rows) < 0.001] = 0
        values[rng.random(rows) < 0.0005] = 10**11
        out.append((keys, values))
    return out


def fold(batches, track, warmup_rows, views=None, bits=10):
    lo = min(int(v.min()) for _, v in batches)
    hi = max(int(v.max()) for _, v in batches)
    fam = Ranked(LogBins(bits, lo, hi), track, sums=True, views=views)
    rows, refresh_at = 0, warmup_rows
    for keys, values in batches:
        fam.add(keys, values)
        rows += values.size
        if rows >= refresh_at:
            fam.refresh()
            refresh_at = 2 * rows
    return fam


def second_pass(fam, batches):
    for view in fam.views.values():
        pending = view.pending()
        for k, (keys, values) in enumerate(batches):
            view.collect(keys, values, fam.bins.of(values), k, pending)
        view.collected(pending)


@pytest.mark.parametrize("track, warmup_rows", [(QS, 10_000), (QS, 10**9), ((), 10_000), ((0.5,), 5_000)])
def test_every_rank_of_every_group_is_numpy_s(track, warmup_rows):
    batches = drifting_batches()
    fam = fold(batches, track, warmup_rows)
    view = fam.view()
    counts = view.counts()
    groups = np.repeat(np.arange(counts.size), 7)
    ranks = np.concatenate([np.linspace(0, n - 1, 7).astype(np.int64) for n in counts])
    view.require(groups, ranks)
    second_pass(fam, batches)
    keys = np.concatenate([k for k, _ in batches])
    values = np.concatenate([v for _, v in batches])
    want = np.concatenate([np.sort(values[keys == g])[ranks[groups == g]] for g in range(counts.size)])
    assert np.array_equal(view.values(groups, ranks), want)
    assert [view.total(g) for g in range(counts.size)] == [int(values[keys == g].sum()) for g in range(counts.size)]


def test_tracked_quantiles_of_a_stationary_stream_need_no_second_pass():
    rng = np.random.default_rng(2)
    batches = [(rng.integers(0, 3, 20_000), rng.lognormal(np.log(5e6), 0.5, 20_000).astype(np.int64))
               for _ in range(30)]
    fam = fold(batches, QS, 40_000)
    require(fam.view(), [q * 100 for q in QS])
    assert fam.view().pending() == {}
    kept = sum(v.size for _, _, v in fam.store)
    assert kept < 0.05 * 600_000  # the store holds the cells near the quantiles, not the rows


def test_views_read_one_family_per_view_group_exactly():
    batches = drifting_batches(groups=12, seed=4)
    views = {"low": lambda k: k % 3, "all": lambda k: np.zeros(k.size, np.int64)}
    fam = fold(batches, QS, 10_000, views=views)
    keys = np.concatenate([k for k, _ in batches])
    values = np.concatenate([v for _, v in batches])
    for name, lut in views.items():
        view = fam.view(name)
        require(view, [50, 99, 99.9])
    second_pass(fam, batches)
    for name, lut in views.items():
        view = fam.view(name)
        got = table(view, [50, 99, 99.9])
        for g in range(view.groups):
            mine = values[lut(keys) == g]
            assert np.array_equal(got[g], np.percentile(mine, [50, 99, 99.9])), (name, g)


def sample_table(n=30_000, seed=5):
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    latency = rng.lognormal(np.log(4e6 * (1 + (k * 8 // n) % 3)), 0.7, n).astype(np.int64)
    return pa.table({
        "intended_ns": START + k * 100_000, "sent_ns": START + k * 100_000 + 1_000, "latency_ns": latency,
        "service_ns": latency - 1_000, "status": np.full(n, 200, np.int16),
        "error": pa.nulls(n, SCHEMA.field("error").type),
        "step": pa.DictionaryArray.from_arrays(pa.array((k % 4).astype(np.int16)), ["a", "b", "c", "d"]),
        "phase": (k * 3 // n).astype(np.int16), "worker": (k % 2).astype(np.int16),
    })


@pytest.mark.parametrize("warmup_rows, collect_cap", [(1 << 20, 1 << 25), (2_000, 1 << 25), (2_000, 50), (1, 7)])
def test_a_stream_s_step_phase_views_match_numpy(warmup_rows, collect_cap):
    t = sample_table()
    stream = Stream(TableSource(t, batch_rows=1_000), warmup_rows=warmup_rows, collect_cap=collect_cap)

    class Fold:
        columns = frozenset()

        def declare(self, s):
            self.views = s.joint("latency", STEP_PHASE, step_phase_views(s.registry), [0.5, 0.99], True)

        def add(self, b):
            pass

        def require(self, s):
            for view in self.views.values():
                require(view)

    f = Fold()
    stream.run([f])
    lat = t.column("latency_ns").to_numpy()
    step = np.asarray(t.column("step").combine_chunks().indices)
    phase = t.column("phase").to_numpy()
    assert stats(f.views[ALL.name])[0]["p99"] == round(np.percentile(lat, 99) / 1e6, 3)
    step_stats = stats(f.views[BY_STEP.name])
    names = stream.registry.step_labels()
    for key, name in enumerate(names[1:], start=1):
        mine = lat[step == "abcd".index(name)]
        assert step_stats[key]["p50"] == round(np.percentile(mine, 50) / 1e6, 3)
        assert step_stats[key]["max"] == round(mine.max() / 1e6, 3)
    phase_stats = stats(f.views[by("phase").name])
    for key, value in enumerate(stream.registry.phases.values):
        assert phase_stats[key]["p999"] == round(np.percentile(lat[phase == value], 99.9) / 1e6, 3)
    if collect_cap == 7:
        assert stream.passes > 2  # the second pass went in rounds
