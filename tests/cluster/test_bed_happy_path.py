"""A load run across three real Ray hosts, as a user runs it: ``loadray run ... --address``
from the head host, token auth on, each worker on its own host. The recorder on the
bridge counts what each host's address sent."""

from __future__ import annotations

import pytest

from bed_runs import describe, finish, node_address, scenario, start_run

pytestmark = pytest.mark.cluster

RATE, DURATION_S = 300, 5


def test_three_hosts_each_send_exactly_their_third(bed, tmp_path):
    run, out = start_run(bed, scenario(bed.target_url, RATE, DURATION_S), tmp_path)
    result = finish(run, out)
    seen = describe(bed, result, {})
    assert result.exit_code == 0, seen
    planned = RATE * DURATION_S
    by_source = {src: s.total for src, s in bed.recorder.stats().items()}
    assert by_source == {h.ip: planned // 3 for h in bed.hosts}, seen
    assert result.rows == planned == sum(by_source.values()), seen
    assert result.rows_by_worker == {0: planned // 3, 1: planned // 3, 2: planned // 3}, seen
    assert result.ok_by_worker == result.rows_by_worker, seen
    placed = {p["worker"]: node_address(bed, p) for p in result.placement}
    assert sorted(placed) == [0, 1, 2] and sorted(placed.values()) == sorted(h.ip for h in bed.hosts), seen
    per_second = bed.recorder.per_second()
    full = list(per_second.values())[1:-1]  # the first and last epoch seconds are partial
    assert full and all(285 <= n <= 315 for n in full), seen
