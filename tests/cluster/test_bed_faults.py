"""Issue 9's acceptance list, in the bed: 300 req/s across 3 real Ray hosts while host 3
is partitioned, isolated, frozen or loses its raylet. Counted by the recorder (what the
target really received, by source address) against what the run archived.

The contract these tests hold the code to (fencing, accounting, placement):
- summary.json: ``planned == rows + lost + unknown`` exactly; ``placement`` lists
  ``{worker, node, address, pid}`` with each worker's host IP; ``events`` holds
  ``{at_s, event, worker, ...}`` with ``fenced``, ``worker_lost``, ``redistribute``,
  ``heal``/``rejoined`` (``lease_s``/``flush_interval_s`` if the summary has them,
  else 2 s and 1 s, bound ``unknown``).
- a host cut from the other Ray hosts stops sending within 3 s and never sends again,
  after a heal neither; nothing is sent after the run's planned end + 1 s; no second
  holds more than the plan + 5% (315 arrivals at 300 req/s).
"""

from __future__ import annotations

import pytest

from bed_faulted import DURATION_S, FAULT_AT, HEAL_AT, RATE, SHARE, faulted, partition_healed
from bed_runs import finish, scenario, start_run

from loadray.archive import open_dataset

pytestmark = pytest.mark.cluster

PREFIXES = [("f/a",), ("f/a", "f/b"), ("f/a", "f/b", "f/c")]  # what one flow instance may have sent


def test_partition_healed_redistribute(bed, tmp_path):
    c, w3 = partition_healed(bed, tmp_path)
    c.cut_host_fenced(bed.ip(3), w3, "partition")


def test_static_flows_partition_healed(bed, tmp_path):
    """Flows of three plain steps (run callback-driven on each worker) at 100/s = 300 req/s:
    the cut host fences mid-flow like the fast path does, no instance goes on after its
    worker fenced, and the identity holds in flow instances."""
    steps = [{"name": name, "path": f"/{name}"} for name in "abc"]
    c, w3 = partition_healed(bed, tmp_path, rate=RATE / 3, requests=None, flows=[{"name": "f", "steps": steps}])
    c.cut_host_silent(bed.ip(3), w3, "partition")
    table = open_dataset(tmp_path / "run")[0].to_table(columns=["flow_id", "step", "intended_ns"])
    paths = table.to_pandas().sort_values(["flow_id", "intended_ns"]).groupby("flow_id")["step"].agg(tuple)
    odd = paths[~paths.isin(PREFIXES)]
    c.check(odd.empty, f"{len(odd)} instances whose steps are not a prefix of a, b, c: {odd.head(3).to_dict()}")
    s = c.result.summary  # planned/rows/lost/unknown count flow instances
    c.check(s.get("rows") == len(paths), f"summary rows {s.get('rows')} != {len(paths)} flow instances archived")
    c.check(s.get("planned") == s.get("rows", 0) + s.get("lost", 0) + s.get("unknown", 0),
            f"planned {s.get('planned')} != rows {s.get('rows')} + lost {s.get('lost')} + unknown {s.get('unknown')}")
    c.done()


def test_isolated_never_healed(bed, tmp_path):
    c, w3 = faulted(bed, tmp_path, "redistribute", (FAULT_AT, "isolate", lambda: bed.isolate(3)), heal_after=3)
    c.run_ok()
    c.silent_after(bed.ip(3), min(c.result.ended_at, c.start + DURATION_S + 1), "the run's end")
    c.arrivals_accounted(bed.ip(3), w3)
    c.events("fenced|worker_lost", "redistribute")
    c.accounted(SHARE)


def test_frozen_host_resumed_sends_nothing(bed, tmp_path):
    c, w3 = faulted(bed, tmp_path, "redistribute", (FAULT_AT, "freeze", lambda: bed.freeze(3)),
                    (HEAL_AT, "thaw", lambda: bed.thaw(3)))
    c.run_ok()
    c.silent_after(bed.ip(3), c.marks["thaw"], "the thaw")
    c.arrivals_are_rows(bed.ip(3), w3)
    c.events("worker_lost", "redistribute")
    c.accounted(SHARE)


def test_raylet_killed_loss_within_3s(bed, tmp_path):
    c, w3 = faulted(bed, tmp_path, "redistribute", (FAULT_AT, "kill_raylet", lambda: bed.kill_raylet(3)), watch=False)
    killed = c.marks["kill_raylet"]
    c.run_ok()
    for w in w3:
        c.event_within("worker_lost", killed, 3.0, worker=w)
    c.silent_after(bed.ip(3), killed + 3, "the raylet kill + 3 s")
    c.recovers(killed + 4, c.start + DURATION_S)
    c.arrivals_accounted(bed.ip(3), w3)
    c.accounted(SHARE)


def test_restart_policy_under_partition(bed, tmp_path):
    """A replacement takes over at the same rate, on another host; the cut host is silent."""
    c, w3 = faulted(bed, tmp_path, "restart", (FAULT_AT, "partition", lambda: bed.partition(3)), heal_after=3)
    c.run_ok()
    c.silent_after(bed.ip(3), c.marks["partition"] + 3, "the partition + 3 s")
    c.recovers(c.marks["partition"] + 5, c.start + DURATION_S)
    for w in w3:
        c.events("fenced", "restart", worker=w)
    c.accounted(SHARE)


def test_abort_policy_under_partition(bed, tmp_path):
    """Exit 1, and nothing is sent after the abort, on any host."""
    c, w3 = faulted(bed, tmp_path, "abort", (FAULT_AT, "partition", lambda: bed.partition(3)), heal_after=3)
    c.exit_code(1)
    aborts = c.result.events("abort")
    c.check(bool(aborts), "no 'abort' event")
    if aborts:
        at = c.start + aborts[0]["at_s"]
        for h in bed.hosts:
            c.silent_after(h.ip, at + 0.5, "the abort + 0.5 s")
    c.silent_after(bed.ip(3), c.marks["partition"] + 3, "the partition + 3 s")
    c.arrivals_accounted(bed.ip(3), w3)
    c.accounted()


def test_builtin_target_on_the_cluster(bed, tmp_path):
    """``target: builtin`` with ``--address``: every request answered, or refused up front
    (exit 2, one line that says what to do, nothing sent)."""
    doc = scenario("builtin", RATE, 4)
    run, out = start_run(bed, doc, tmp_path)
    result = finish(run, out)
    if result.exit_code == 2:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and "builtin" in lines[0] and "Traceback" not in result.stderr, result.stderr
        assert result.rows == 0
        return
    s = result.summary
    assert (result.exit_code, s.get("intended"), s.get("ok"), s.get("errors")) == (0, 1200, 1200, 0), (
        f"exit {result.exit_code}; intended {s.get('intended')}, ok {s.get('ok')}, errors {s.get('errors')}; "
        f"errors by kind {s.get('error_kinds') or s.get('errors_by_kind')}; rows by worker {result.rows_by_worker}, "
        f"ok by worker {result.ok_by_worker}; stderr {result.stderr[-800:]}")
