"""The coordinator's decisions, without Ray: membership and leases, worker loss and
its policies, plan revisions, live control and rules.

Driven by an injected clock (monotonic for durations; the common start instant is a
wall-clock time all workers share). Each input returns the :mod:`actions
<loadray.fleet.actions>` its Ray shell must carry out, so every decision is tested
with a fake clock and no cluster.

The lease rule (see :mod:`loadray.engine.lease`): a member is declared lost once no
renewal has been heard for ``loss_timeout = lease + margin``; by then its lease has
run out, so it has fenced itself. Its share moves to others only from
``now + REVISION_MARGIN_S``, later still.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

from loadray.engine.worker import LOST, RENEWED, Renewal, WorkerReady
from loadray.fleet.actions import Action, Alert, Halt, Key, Revise, Spawn, Start
from loadray.fleet.clock_offset import ClockOffset, skew_warning
from loadray.fleet.members import Member
from loadray.fleet.records import EventKind, Placement, RunEvent
from loadray.fleet.watch import Watch
from loadray.live.board import Board
from loadray.live.command import CommandKind
from loadray.live.status import LiveStatus, RunState, WorkerSecond
from loadray.plan.revision import Assignment, plan_phases, with_base, with_rate
from loadray.scenario.model import Scenario

START_MARGIN_S = 0.5  # from the last ready report to the common start
REVISION_MARGIN_S = 0.3  # a revision takes effect this far ahead, so it reaches everyone first

State = RunState  # one definition, in loadray.live.status
AbortKind = Literal["threshold", "worker_loss"]


class Clock(Protocol):
    """What the conductor reads of time (``loadray.engine.clock.SystemClock`` fits)."""

    def monotonic_ns(self) -> int: ...

    def wall_ns(self) -> int: ...


@dataclass(frozen=True)
class Verdict:
    """How the live run ended, for the run record."""

    aborted: str | None = None
    abort_kind: AbortKind | None = None


class Conductor:
    def __init__(self, scenario: Scenario, clock: Clock) -> None:
        self.scenario = scenario
        self.clock = clock
        self.lease_s = scenario.cluster.lease_s
        self.loss_timeout_ns = int(scenario.cluster.loss_timeout_s * 1e9)
        self.base = plan_phases(scenario.phases)
        self.phases = self.base
        self.end_s = scenario.duration_s
        self.state: State = "starting"
        self.members: dict[Key, Member] = {}
        self.current: dict[int, Member] = {}  # worker index -> its live incarnation
        self.events: list[RunEvent] = []
        self.placement: list[Placement] = []
        self.verdict = Verdict()
        self.start_wall_ns = 0
        self.start_mono_ns = 0
        self.stopped_s: float | None = None  # when the run was stopped early
        self.revision = 0
        self.board = Board(0)
        self._judged_second = -1
        self.watch = Watch(scenario)
        self._respawning: set[int] = set()  # worker indexes whose replacement is on its way

    # -- membership ----------------------------------------------------------------

    def joined(self, ready: WorkerReady) -> None:
        """Incarnation ``ready.incarnation`` of worker ``ready.index`` is placed and warm."""
        m = Member(ready.index, ready.incarnation, node=ready.node, heard_ns=self.clock.monotonic_ns())
        self.members[m.key] = m
        self.current[m.index] = m
        clock = None if ready.clock_error_ns is None else ClockOffset(ready.clock_offset_ns, ready.clock_error_ns)
        self.placement.append(Placement(ready.index, ready.incarnation, ready.node, ready.address, ready.host,
                                        ready.pid, *(clock.in_ms() if clock else (None, None))))
        line = clock and skew_warning(ready.index, clock)
        if line:
            self.watch.warn(line)

    def begin(self) -> tuple[int, list[Action]]:
        """Fix the common start; every member gets its share from t = 0."""
        now = self.clock.monotonic_ns()
        self.start_mono_ns = now + int(START_MARGIN_S * 1e9)
        self.start_wall_ns = self.clock.wall_ns() + int(START_MARGIN_S * 1e9)
        self.board = Board(self.start_wall_ns, self.watch.steps)
        self.state = "running"
        alive = sorted(self.current)
        actions: list[Action] = []
        for m in self.current.values():
            m.heard_ns = now
            a = Assignment(self.phases, len(alive), alive.index(m.index))
            m.assign(a, self.end_s)
            actions.append(Start(m.key, a))
        return self.start_wall_ns, actions

    def renew(self, key: Key, lapsed: bool) -> tuple[Renewal, list[Action]]:
        """A member asks to renew its lease (``lapsed``: it has fenced itself already)."""
        m = self.members.get(key)
        if m is None:
            return LOST, []
        m.heard_ns = self.clock.monotonic_ns()
        if not m.alive:
            if not m.rejoined:
                m.rejoined = True
                self._event("rejoined", worker=m.index, why="heard from again after it was declared lost; it stays fenced")
            return LOST, []
        if lapsed:
            self._event("fenced", worker=m.index, why="it fenced itself")
            return LOST, self._lose(m, "it fenced itself (lease lapsed, or its node is gone)", self.elapsed_s())
        return RENEWED, []

    def heartbeat(self, hb: WorkerSecond) -> list[Action]:
        m = self.members.get((hb.worker, hb.incarnation))
        if m is None or not m.alive or self.state == "starting":
            return []
        self.board.add(hb)
        if hb.exhausted and self.state in ("running", "paused"):
            self.watch.warn(f"feeder {hb.exhausted!r} ran out of rows (when_exhausted: stop_run): the run stopped early")
            self._event("stop", why=f"feeder {hb.exhausted} exhausted")
            return self.stop()
        return []

    def finished(self, key: Key) -> None:
        """Its run returned: it records nothing more."""
        if key in self.members:
            self.members[key].finished = True

    def died(self, key: Key, why: str, exited: bool = False) -> list[Action]:
        """Ray says its actor is gone: lost now, if it was a member. Unless Ray saw its
        process end (``exited``), the process may still run (its node's raylet died: a
        renewal was seen 17 ms after such news) and send until its lease lapses, so
        nobody takes its share before that."""
        m = self.members.get(key)
        if m is None:
            return []
        m.dead = True
        if not m.alive:
            return []
        lease_end_s = self._elapsed_at(m.heard_ns) + self.lease_s
        return self._lose(m, why, min(self.elapsed_s(), lease_end_s) if exited else lease_end_s)

    # -- the clock ticks -------------------------------------------------------------

    def tick(self) -> list[Action]:
        """Declare silent members lost, judge live rules, notice the end."""
        now = self.clock.monotonic_ns()
        actions: list[Action] = []
        for m in list(self.current.values()):
            if m.alive and self.state in ("running", "paused") and now - m.heard_ns > self.loss_timeout_ns:
                silent_from = self._elapsed_at(m.heard_ns) + self.lease_s
                timeout_s = self.loss_timeout_ns / 1e9
                # by the lease rule it has fenced itself by then, heard from or not
                self._event("fenced", at_s=silent_from, worker=m.index, why="its lease ran out unrenewed")
                actions += self._lose(m, f"no renewal heard for {timeout_s:g}s", silent_from)
        second = self.board.second_of(self.clock.wall_ns())
        if self.state in ("running", "paused") and second != self._judged_second:  # rules: once a second
            self._judged_second = second
            breaches, abort = self.watch.rules.check(self.board, self.clock.wall_ns())
            actions += [Alert(b) for b in breaches]
            for b in breaches:
                self._event("breach", why=b.expr, value=b.value, kind=b.kind, step=b.step)
            if abort and self.verdict.aborted is None:
                actions += self._abort(abort, "threshold")
        if self.state != "starting":
            self.watch.saturation(self.board)
            if not self._respawning and all(m.finished or m.dead for m in self.current.values() if m.alive):
                self.state = "finished"
        return actions

    # -- control ---------------------------------------------------------------------

    def control(self, command: CommandKind, rate: float | None = None) -> tuple[str, list[Action]]:
        if self.state not in ("running", "paused"):
            return f"not running ({self.state})", []
        at = self.elapsed_s() + REVISION_MARGIN_S
        if command == "stop":
            self._event("stop", at_s=at)
            return "stopping", self.stop()
        if command == "rate":
            if rate is None or not (math.isfinite(rate) and rate >= 0):
                return f"rate must be a finite number >= 0, got {rate!r}", []
            phases = with_rate(self.phases, at, rate, self.end_s, self._new_phase_number())
            self.state = "running" if rate > 0 else "paused"
        elif command == "pause":
            phases, self.state = with_rate(self.phases, at, 0.0, self.end_s, self._new_phase_number()), "paused"
        elif command == "resume":
            phases, self.state = with_base(self.phases, at, self.base), "running"
        else:
            return f"unknown command {command!r}", []
        self.phases = phases
        self._event(command, at_s=at, rate=rate)
        return f"{command} from t={at:.2f}s", self._reassign(at)

    def stop(self) -> list[Action]:
        """Every member stops sending (a partitioned one fences itself anyway)."""
        if self.state in ("stopping", "finished"):
            return []
        if self.state != "starting":
            self.stopped_s = min(self.elapsed_s(), self.end_s)
        self.state = "stopping"
        return [Halt(m.key) for m in self.current.values() if m.alive]

    # -- restarts --------------------------------------------------------------------

    def spawned(self, ready: WorkerReady) -> list[Action]:
        """A restarted incarnation is warm: it takes its index's share from the next
        revision instant."""
        self._respawning.discard(ready.index)
        if self.state not in ("running", "paused"):
            return []
        at = self._takeover_at(self._silent_from(ready.index))
        for old in self.members.values():
            if old.index == ready.index:
                old.close(at)
        self.joined(ready)
        fresh = self.current[ready.index]
        alive = sorted(i for i, m in self.current.items() if m.alive)
        a = Assignment(self.phases, len(alive), alive.index(ready.index), at, self._next_revision())
        fresh.assign(a, self.end_s)
        self._event("restart", at_s=at, worker=ready.index)
        return [Start(fresh.key, a)]

    def spawn_failed(self, key: Key, why: str) -> list[Action]:
        self._event("restart_failed", worker=key[0], why=why)
        self._respawning.discard(key[0])
        if self.state not in ("running", "paused"):
            return []
        return self._reassign(self._takeover_at(self._silent_from(key[0])))

    # -- reading -------------------------------------------------------------------

    def elapsed_s(self) -> float:
        return self._elapsed_at(self.clock.monotonic_ns())

    def shares(self):
        return [m.share() for m in self.members.values()]

    def status(self) -> LiveStatus:
        return self.watch.snapshot(self, self.clock.wall_ns())

    # -- inside ----------------------------------------------------------------------

    def _lose(self, m: Member, why: str, silent_from_s: float) -> list[Action]:
        m.alive = False
        m.silent_from_s = silent_from_s
        self.board.forget(m.index)
        policy = self.scenario.on_worker_loss
        self._event("worker_lost", worker=m.index, why=why, policy=policy)
        if self.state not in ("running", "paused"):
            m.close(self.elapsed_s())
            return []
        if policy == "abort":
            m.close(self.elapsed_s())
            return self._abort(f"worker {m.index} lost ({why}); on_worker_loss: abort", "worker_loss")
        if policy == "restart":  # its share stays open until the replacement takes over
            self._respawning.add(m.index)
            return [Spawn((m.index, m.incarnation + 1), m.node or None)]
        return self._reassign(self._takeover_at(silent_from_s))

    def _takeover_at(self, silent_from_s: float) -> float:
        """From when others send a lost member's share (in whole milliseconds): once a
        revision can reach them, and never while it may still send (its lease)."""
        return math.ceil(round(max(self.elapsed_s() + REVISION_MARGIN_S, silent_from_s) * 1000, 6)) / 1000

    def _silent_from(self, index: int) -> float:
        """From when no lost incarnation of ``index`` can send any more."""
        return max((m.silent_from_s for m in self.members.values() if m.index == index and not m.alive), default=0.0)

    def _reassign(self, at: float) -> list[Action]:
        """Every live member gets its share of the current plan from ``at`` on; with none
        left (and no replacement on its way), the run is aborted: nobody can send the rest."""
        alive = [m for _, m in sorted(self.current.items()) if m.alive]
        if not alive and not self._respawning:
            return self._abort(f"every worker was lost ({self._losses()}): none is left to send the rest of the load",
                               "worker_loss")
        revision = self._next_revision()
        for m in self.members.values():
            m.close(at)
        if len(alive) < len(self.current):
            self._event("redistribute", at_s=at, workers=tuple(m.index for m in alive))
        actions: list[Action] = []
        for rank, m in enumerate(alive):
            a = Assignment(self.phases, len(alive), rank, at, revision)
            m.assign(a, self.end_s)
            actions.append(Revise(m.key, a))
        return actions

    def _losses(self) -> str:
        """``worker 0: <why>; worker 1: <why>`` for each worker index's last loss."""
        why = {e.worker: e.why for e in self.events if e.event == "worker_lost"}
        return "; ".join(f"worker {i}: {w}" for i, w in sorted(why.items()))

    def _abort(self, reason: str, kind: AbortKind) -> list[Action]:
        self.verdict = Verdict(reason, kind)
        self._event("abort", why=reason)
        return self.stop()

    def _event(self, event: EventKind, at_s: float | None = None, **data) -> None:
        self.events.append(RunEvent(self.elapsed_s() if at_s is None else at_s, event, **data))

    def _elapsed_at(self, mono_ns: int) -> float:
        return (mono_ns - self.start_mono_ns) / 1e9 if self.start_mono_ns else 0.0

    def _new_phase_number(self) -> int:
        return max(p.number for p in self.phases) + 1

    def _next_revision(self) -> int:
        self.revision += 1
        return self.revision
