"""How fine a family's bins are: as fine as ~4M cells allow over its column's octaves."""

from test_analysis_ranks import sample_table

from loadray.analysis.groupings import ALL, STEP_PHASE
from loadray.analysis.stream import Stream, TableSource, bits_for


def test_bits_follow_the_groups_and_the_octaves():
    assert bits_for(1, 8) == 14  # the finest: a bin 0.004% wide
    assert bits_for(1, 40) == 14
    assert bits_for(256, 8) == 11 and bits_for(256, 32) == 9
    assert bits_for(10**6, 32) == 4  # the coarsest


def test_a_one_group_family_gets_finer_bins_than_a_many_group_one():
    stream = Stream(TableSource(sample_table()))
    assert stream.family("latency", ALL, [0.5]).fam.bins.bits == 14
    assert stream.family("service", STEP_PHASE, [0.5]).fam.bins.bits == 10  # 256 groups over ~9 octaves
    assert stream.family("lag", ALL, bits=6).fam.bins.bits == 6  # asked for
