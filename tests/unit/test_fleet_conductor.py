"""The coordinator's decisions on a fake clock: leases, losses and their policies,
redistribution, restarts, control. No Ray, no real time."""

from __future__ import annotations

import math
import random

import pytest

from loadray.engine.clock import FakeClock
from loadray.engine.worker import LOST, RENEWED, WorkerReady
from loadray.fleet.actions import Halt, Revise, Spawn, Start
from loadray.fleet.conductor import REVISION_MARGIN_S, START_MARGIN_S, Conductor
from loadray.scenario import parse_scenario

S = 1_000_000_000


def scenario(policy="redistribute", workers=3, lease="1.5s"):
    return parse_scenario({
        "name": "c", "target": "http://127.0.0.1:9", "workers": workers,
        "load": {"phases": [{"duration": "20s", "rate": 300}]},
        "requests": [{"path": "/"}], "on_worker_loss": policy, "cluster": {"lease": lease},
    })


def started(policy="redistribute", workers=3):
    clock = FakeClock()
    c = Conductor(scenario(policy, workers), clock)
    for i in range(workers):
        c.joined(WorkerReady(i, 100 + i, "h", 0, node=f"node{i}", address=f"10.77.0.{11 + i}"))
    _, actions = c.begin()
    clock.now_ns += int(START_MARGIN_S * S)  # at the common start
    return c, clock, actions


def advance(c: Conductor, clock: FakeClock, seconds: float, renewing=(0, 1, 2), step=0.25):
    """Move time on in ticks; the ``renewing`` members renew every tick."""
    actions = []
    for _ in range(round(seconds / step)):
        clock.now_ns += int(step * S)
        for i in renewing:
            if (i, 0) in c.members:
                assert c.renew((i, 0), lapsed=False)[0] in (RENEWED, LOST)
        actions += c.tick()
    return actions


def test_begin_starts_every_worker_with_its_rank():
    c, _, actions = started()
    assert [a.key for a in actions] == [(0, 0), (1, 0), (2, 0)]
    assert all(isinstance(a, Start) for a in actions)
    assert [(a.assignment.rank, a.assignment.workers) for a in actions] == [(0, 3), (1, 3), (2, 3)]
    assert c.placement[2].address == "10.77.0.13"


def test_a_silent_worker_is_lost_after_its_lease_ran_out_and_its_share_moves_later():
    c, clock, _ = started()
    advance(c, clock, 5.0)
    heard = c.members[(2, 0)].heard_ns
    actions = advance(c, clock, 3.0, renewing=(0, 1))  # worker 2 partitioned at 5 s
    lost_event = next(e for e in c.events if e.event == "worker_lost")
    assert lost_event.worker == 2
    declared = lost_event.at_s
    assert 2.5 < declared - c._elapsed_at(heard) <= 2.5 + 0.25  # loss timeout = lease + 1 s, one tick
    m = c.members[(2, 0)]
    assert m.silent_from_s == pytest.approx(c._elapsed_at(heard) + 1.5)
    assert m.silent_from_s < declared  # it fenced itself before it was declared lost
    fenced = [e for e in c.events if e.event == "fenced"]
    assert [(e.worker, e.at_s) for e in fenced] == [(2, m.silent_from_s)]
    revisions = [a for a in actions if isinstance(a, Revise)]
    assert [r.key for r in revisions] == [(0, 0), (1, 0)]
    at = revisions[0].assignment.from_s
    assert declared + REVISION_MARGIN_S <= at < declared + REVISION_MARGIN_S + 0.001  # in whole ms
    assert [(r.assignment.rank, r.assignment.workers) for r in revisions] == [(0, 2), (1, 2)]
    assert m.assignments[-1][1] == at  # its share closed where the survivors take it over
    assert any(e.event == "redistribute" and e.workers == (0, 1) for e in c.events)


@pytest.mark.parametrize("seed", range(20))
def test_never_two_senders_for_one_share(seed):
    """Random partitions and heals: whenever a member is declared lost, its lease (from
    the last renewal it could have had acknowledged) ended before, and its share moves
    strictly later."""
    rng = random.Random(seed)
    c, clock, _ = started()
    for _ in range(60):
        renewing = [i for i in range(3) if rng.random() > 0.3]
        advance(c, clock, 0.25, renewing=renewing)
    for m in c.members.values():
        if not m.alive:
            lost = next(e for e in c.events if e.event == "worker_lost" and e.worker == m.index)
            assert m.silent_from_s < lost.at_s
            assert m.assignments[-1][1] > lost.at_s


def test_a_worker_ray_says_died_keeps_its_share_until_its_lease_could_have_lapsed():
    """Ray's news of an actor's death can come while its process still runs (a node whose
    raylet died): it may send until its lease ends, so nobody else sends its share
    before, and what it was due until then may have been sent (unknown, not lost)."""
    c, clock, _ = started()
    advance(c, clock, 4.0)  # 4 s after the start: each renewed 1 tick (0.25 s) ago at most
    clock.now_ns += int(0.1 * S)
    heard_s = c._elapsed_at(c.members[(2, 0)].heard_ns)
    actions = c.died((2, 0), "the actor died: its node was terminated")
    m = c.members[(2, 0)]
    assert not m.alive and m.silent_from_s == pytest.approx(heard_s + 1.5)  # its lease, not the news
    revisions = [a for a in actions if isinstance(a, Revise)]
    assert [r.key for r in revisions] == [(0, 0), (1, 0)]
    at = revisions[0].assignment.from_s
    # the news came at 4.1 s: 4.4 s would do for the margin (0.3 s), but its lease runs to 5.5 s
    assert c.elapsed_s() == pytest.approx(4.1) and heard_s == pytest.approx(4.0)
    assert at == 5.5 and m.assignments[-1][1] == 5.5


def test_a_worker_whose_process_ray_saw_end_is_taken_over_after_the_margin_only():
    c, clock, _ = started()
    advance(c, clock, 4.0)
    clock.now_ns += int(0.1 * S)
    actions = c.died((2, 0), "the actor died: its worker process has died", exited=True)
    m = c.members[(2, 0)]
    assert m.silent_from_s == pytest.approx(4.1)  # it ended by the time Ray said so
    assert {a.assignment.from_s for a in actions if isinstance(a, Revise)} == {4.4}  # 4.1 + 0.3


def test_a_replacement_never_takes_over_while_the_lost_incarnation_may_still_send():
    c, clock, _ = started("restart")
    advance(c, clock, 4.0)
    c.died((2, 0), "the actor died: its node was terminated")  # at 4 s; its lease runs to 5.5 s
    (start,) = c.spawned(WorkerReady(2, 200, "h", 0, node="node0", incarnation=1))  # warm at once
    assert start.assignment.from_s == 5.5 and c.members[(2, 0)].assignments[-1][1] == 5.5


def test_a_lost_worker_that_comes_back_stays_fenced():
    c, clock, _ = started()
    advance(c, clock, 4.0, renewing=(0, 1))
    assert not c.members[(2, 0)].alive
    assert c.renew((2, 0), lapsed=False) == (LOST, [])
    assert c.renew((2, 0), lapsed=False) == (LOST, [])
    assert [e.worker for e in c.events if e.event == "rejoined"] == [2]


def test_a_worker_that_says_its_lease_lapsed_is_lost_at_once():
    c, clock, _ = started()
    advance(c, clock, 2.0)
    answer, actions = c.renew((1, 0), lapsed=True)
    assert answer == LOST
    assert [e.event for e in c.events][-3:] == ["fenced", "worker_lost", "redistribute"]
    assert {a.key for a in actions} == {(0, 0), (2, 0)}


def test_abort_policy_halts_everyone_left():
    c, clock, _ = started("abort")
    actions = advance(c, clock, 4.0, renewing=(0, 1))
    assert [a.key for a in actions if isinstance(a, Halt)] == [(0, 0), (1, 0)]
    assert c.verdict.abort_kind == "worker_loss" and c.state == "stopping"
    assert c.stopped_s == pytest.approx(c.events[-1].at_s)


def test_restart_policy_spawns_away_from_the_lost_node_and_takes_over_later():
    c, clock, _ = started("restart")
    actions = advance(c, clock, 4.0, renewing=(0, 1))
    spawn = next(a for a in actions if isinstance(a, Spawn))
    assert spawn.key == (2, 1) and spawn.avoid_node == "node2"
    clock.now_ns += 2 * S  # pre-warming the replacement
    (start,) = c.spawned(WorkerReady(2, 200, "h", 0, node="node0", incarnation=1))
    assert start.key == (2, 1)
    a = start.assignment
    assert (a.rank, a.workers) == (2, 3) and a.from_s == round(c.elapsed_s() + REVISION_MARGIN_S, 3)
    assert c.members[(2, 0)].assignments[-1][1] == a.from_s  # the lost one's share ends there
    assert [p.incarnation for p in c.placement if p.worker == 2] == [0, 1]


def test_restart_that_fails_redistributes():
    c, clock, _ = started("restart")
    advance(c, clock, 4.0, renewing=(0, 1))
    actions = c.spawn_failed((2, 1), "no node")
    assert [a.key for a in actions] == [(0, 0), (1, 0)]
    assert any(e.event == "restart_failed" for e in c.events)


def test_losing_every_worker_aborts_the_run_rather_than_finishing_it():
    # one host's raylet killed: both workers fenced at once, nobody left to redistribute to
    c, clock, _ = started("redistribute", workers=2)
    advance(c, clock, 2.0, renewing=(0, 1))
    for i in (0, 1):
        c.renew((i, 0), lapsed=True)
    assert c.verdict.abort_kind == "worker_loss" and c.state == "stopping"
    assert c.verdict.aborted == ("every worker was lost (worker 0: it fenced itself (lease lapsed, or its node is "
                                 "gone); worker 1: it fenced itself (lease lapsed, or its node is gone)): none is left "
                                 "to send the rest of the load")
    assert c.stopped_s == pytest.approx(2.0)  # the plan ends here: planned = rows + lost + unknown up to it
    c.tick()
    assert c.state == "finished"


def test_a_run_waits_for_replacements_of_every_lost_worker_and_aborts_when_none_comes():
    c, clock, _ = started("restart", workers=2)
    actions = advance(c, clock, 4.0, renewing=())  # both silent: lost, replacements asked for
    assert sorted(a.key for a in actions if isinstance(a, Spawn)) == [(0, 1), (1, 1)]
    advance(c, clock, 2.0, renewing=())
    assert c.state == "running" and c.verdict.aborted is None  # not finished while they start
    (start,) = c.spawned(WorkerReady(0, 300, "h", 0, node="node1", incarnation=1))
    assert start.key == (0, 1)
    assert [(type(a), a.key) for a in c.spawn_failed((1, 1), "no node")] == [(Revise, (0, 1))]  # all its own now
    assert c.state == "running" and c.verdict.aborted is None  # one replacement carries the load
    c2, clock2, _ = started("restart", workers=2)
    advance(c2, clock2, 4.0, renewing=())
    c2.spawn_failed((0, 1), "no node")
    assert c2.state == "running"  # the other replacement may still come
    c2.spawn_failed((1, 1), "no node")
    assert c2.verdict.abort_kind == "worker_loss" and c2.state == "stopping"


@pytest.mark.parametrize("rate", [math.inf, -5.0, math.nan, None])
def test_control_refuses_rates_that_are_not_finite_and_non_negative(rate):
    c, _, _ = started()
    answer, actions = c.control("rate", rate)
    assert answer.startswith("rate must be a finite number >= 0") and actions == []


def test_control_rate_revises_every_member_from_the_margin():
    c, clock, _ = started()
    advance(c, clock, 2.0)
    answer, actions = c.control("rate", 600.0)
    assert answer.startswith("rate from t=")
    assert {a.key for a in actions} == {(0, 0), (1, 0), (2, 0)}
    assert actions[0].assignment.phases[-1].rate == 600.0


def test_stop_halts_and_the_run_finishes_when_every_member_returned():
    c, clock, _ = started()
    advance(c, clock, 1.0)
    assert {a.key for a in c.stop()} == {(0, 0), (1, 0), (2, 0)}
    assert c.stop() == []
    for i in range(3):
        c.finished((i, 0))
    c.tick()
    assert c.state == "finished"
    assert c.stopped_s == pytest.approx(1.0)
