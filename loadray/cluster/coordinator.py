"""The coordinator actor: one clock, live statistics, live control and worker loss.

It creates the worker actors (so they share its fate: a dead coordinator or driver
leaves no worker running), fixes the common start instant once every worker has
pre-warmed, merges their per-second heartbeats, evaluates live thresholds and
breakers, applies rate changes, and replans the survivors when a worker is lost.
The driver only asks it for status and hands it commands.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import urllib.request
from dataclasses import dataclass, field

import ray

from loadray.cluster.worker_actor import WorkerActor
from loadray.engine.worker import WorkerReady, WorkerSpec
from loadray.live.board import Board
from loadray.live.rules import Breach, Rules
from loadray.live.status import LiveStatus, WorkerSecond
from loadray.plan import Profile
from loadray.plan.revision import Assignment, plan_phases, planned_count, with_base, with_rate
from loadray.plan.users import users_at
from loadray.scenario.model import Scenario

logger = logging.getLogger(__name__)

START_MARGIN_S = 0.5  # from the last ready report to the common start
REVISION_MARGIN_S = 0.3  # a revision takes effect this far ahead, so it reaches everyone first
HEARTBEAT_TIMEOUT_S = 2.0
TICK_S = 0.5
SEND_LAG_WARN_MS = 10.0
LOOP_LAG_WARN_MS = 100.0
CPU_WARN_PERCENT = 90.0
SATURATED_TICKS = 6  # consecutive ticks (3 s) before a saturation warning


@dataclass
class Slot:
    """One worker index: its current actor, its run, and its history of assignments."""

    index: int
    actor: object
    assignments: list[tuple[Assignment, float]] = field(default_factory=list)  # (a, until_s)
    run: object = None
    alive: bool = True
    ready: WorkerReady | None = None


@dataclass(frozen=True)
class RunRecord:
    """What the archive keeps of the live run besides the rows."""

    events: list[dict]
    planned: dict[int, int]  # per worker index: requests its assignments intended
    dead: list[int]  # indexes whose actor died at some point (restarted or not)
    warnings: list[str]
    aborted: str | None
    abort_kind: str | None  # "threshold" | "worker_loss" | None
    placement: list[dict]  # per worker incarnation: index, node, host, pid
    live_latency_ms: dict  # whole run, from the merged heartbeat histograms (p50, p99)


class Coordinator:
    def __init__(self, scenario: Scenario, worker_cpus: float) -> None:
        self.scenario = scenario
        self.worker_cpus = worker_cpus
        self.base = plan_phases(scenario.phases)
        self.phases = self.base
        self.end_s = scenario.duration_s
        self.slots: list[Slot] = []
        self.start_ns = 0
        self.state = "starting"
        self.board: Board | None = None
        self.rules = Rules(scenario.thresholds, scenario.breakers, scenario.live_window_s)
        self.events: list[dict] = []
        self.warnings: list[str] = []
        self.aborted: str | None = None
        self.abort_kind: str | None = None
        self.revision = 0
        self._status = LiveStatus(duration_s=self.end_s, workers_total=scenario.workers)
        self._tasks: list[asyncio.Task] = []
        self._saturated: dict[tuple[int, str], int] = {}
        self.placement: list[dict] = []
        self.lost_workers: set[int] = set()  # indexes that lost an actor at some point

    # -- start ---------------------------------------------------------------------

    async def prepare(self, ready_timeout_s: float) -> tuple[list[WorkerReady], str | None]:
        """Create and pre-warm every worker; all or nothing (error text, never raises)."""
        me = ray.get_runtime_context().current_actor
        for i in range(self.scenario.workers):
            self.slots.append(Slot(i, self._new_actor(i, me)))
        try:
            ready = await asyncio.wait_for(
                asyncio.gather(*[s.actor.prepare.remote() for s in self.slots]), ready_timeout_s
            )
        except asyncio.TimeoutError:
            self._kill_all()
            return [], (f"workers: not every one of {len(self.slots)} workers was placed and ready "
                        f"within {ready_timeout_s:g}s; refusing to run with fewer")
        except ray.exceptions.RayError as exc:
            self._kill_all()
            return [], f"workers: a worker failed to start: {_last_line(exc)}"
        for slot, r in zip(self.slots, ready):
            slot.ready = r
            self._placed(r)
        return list(ready), None

    def _new_actor(self, index: int, me):
        spec = WorkerSpec(index, self.scenario.workers, self.scenario)
        return ray.remote(WorkerActor).options(
            num_cpus=self.worker_cpus, scheduling_strategy="SPREAD", max_concurrency=16
        ).remote(spec, me)

    async def begin(self) -> int:
        self.start_ns = time.time_ns() + int(START_MARGIN_S * 1e9)
        self.board = Board(self.start_ns)
        for slot in self.slots:
            a = Assignment(self.phases, len(self.slots), slot.index)
            slot.assignments.append((a, self.end_s))
            slot.run = slot.actor.run.remote(self.start_ns, a)
            self._tasks.append(asyncio.ensure_future(self._watch(slot, slot.run)))
        self.state = "running"
        self._tasks.append(asyncio.ensure_future(self._tick_forever()))
        return self.start_ns

    # -- what workers and the driver call --------------------------------------------

    async def heartbeat(self, hb: WorkerSecond) -> None:
        if self.board is not None and self.slots[hb.worker].alive:
            self.board.add(hb)
        if hb.exhausted and self.state in ("running", "paused"):
            self.warnings.append(f"feeder {hb.exhausted!r} ran out of rows (when_exhausted: stop_run): the run stopped early")
            self._event("stop", self._elapsed(), reason=f"feeder {hb.exhausted} exhausted")
            await self.stop()

    async def status(self) -> LiveStatus:
        return self._status

    async def workers(self) -> list[tuple[int, object]]:
        return [(s.index, s.actor) for s in self.slots if s.alive]

    async def control(self, command: str, rate: float | None = None) -> str:
        if self.state not in ("running", "paused"):
            return f"not running ({self.state})"
        at = self._elapsed() + REVISION_MARGIN_S
        if command == "stop":
            self._event("stop", at)
            await self.stop()
            return "stopping"
        if command == "rate" and rate is not None and rate >= 0:
            phases = with_rate(self.phases, at, rate, self.end_s, self._new_phase_number())
            self.state = "running" if rate > 0 else "paused"
        elif command == "pause":
            phases, self.state = with_rate(self.phases, at, 0.0, self.end_s, self._new_phase_number()), "paused"
        elif command == "resume":
            phases, self.state = with_base(self.phases, at, self.base), "running"
        else:
            return f"unknown command {command!r}"
        self.phases = phases
        self._event(command, at, rate=rate)
        await self._reassign(at)
        return f"{command} from t={at:.2f}s"

    async def stop(self) -> None:
        if self.state in ("stopping", "finished"):
            return
        self.state = "stopping"
        await asyncio.gather(*[s.actor.stop.remote() for s in self.slots if s.alive], return_exceptions=True)

    async def record(self) -> RunRecord:
        until = self._elapsed()
        planned = {}
        for s in self.slots:
            planned[s.index] = sum(planned_count(a, min(u, until)) for a, u in s.assignments)
        dead = sorted(self.lost_workers)
        h = self.board.latency if self.board else None
        live = {f"p{q * 100:g}": (h.quantile_ns(q) or 0) / 1e6 for q in (0.5, 0.99)} if h and h.count else {}
        return RunRecord(
            self.events, planned, dead, self.warnings, self.aborted, self.abort_kind, self.placement, live
        )

    async def kill_all(self) -> None:
        self._kill_all()

    def _kill_all(self) -> None:
        for s in self.slots:
            ray.kill(s.actor, no_restart=True)

    # -- inside ----------------------------------------------------------------------

    async def _watch(self, slot: Slot, run_ref) -> None:
        try:
            await run_ref
        except ray.exceptions.RayError:
            if slot.alive and slot.run is run_ref:
                await self._lost(slot, "the actor died")

    async def _tick_forever(self) -> None:
        while self.state != "finished":
            await asyncio.sleep(TICK_S)
            try:
                await self._tick()
            except Exception as exc:  # a bug here must not freeze the run: say it, go on
                note = f"coordinator error: {type(exc).__name__}: {exc}"
                if note not in self.warnings:
                    self.warnings.append(note)
                    logger.exception("coordinator tick failed")

    async def _tick(self) -> None:
        now = time.time_ns()
        for slot in self.slots:
            seen = self.board.last_seen_ns.get(slot.index, self.start_ns)
            if slot.alive and self.state in ("running", "paused") and now - seen > HEARTBEAT_TIMEOUT_S * 1e9:
                await self._lost(slot, f"no heartbeat for {HEARTBEAT_TIMEOUT_S:g}s")
        if self.state in ("running", "paused"):
            breaches, abort = self.rules.check(self.board, now)
            for b in breaches:
                self._alert(b)
            if abort and self.aborted is None:
                await self._abort(abort, "threshold")
        self._warn_saturation()
        runs = [s.run for s in self.slots if s.alive]
        done, _ = ray.wait(runs, num_returns=len(runs), timeout=0) if runs else ([], [])
        if len(done) == len(runs) and self.state != "starting":
            self.state = "finished"
        self._status = self._snapshot(now)

    async def _lost(self, slot: Slot, why: str) -> None:
        slot.alive = False
        self.lost_workers.add(slot.index)
        ray.kill(slot.actor, no_restart=True)
        self.board.forget(slot.index)
        at = self._elapsed()
        policy = self.scenario.on_worker_loss
        self._event("worker_lost", at, worker=slot.index, why=why, policy=policy)
        if self.state not in ("running", "paused"):
            return
        if policy == "abort":
            await self._abort(f"worker {slot.index} lost ({why}); on_worker_loss: abort", "worker_loss")
        elif policy == "restart":
            await self._restart(slot)
        else:
            await self._reassign(math.ceil(at + REVISION_MARGIN_S))

    async def _restart(self, dead: Slot) -> None:
        me = ray.get_runtime_context().current_actor
        fresh = Slot(dead.index, self._new_actor(dead.index, me), assignments=dead.assignments)
        try:
            fresh.ready = await asyncio.wait_for(fresh.actor.prepare.remote(), 30)
        except Exception:
            self._event("restart_failed", self._elapsed(), worker=dead.index)
            return await self._reassign(math.ceil(self._elapsed() + REVISION_MARGIN_S))
        at = math.ceil(self._elapsed() + REVISION_MARGIN_S)
        self._close_assignment(dead, at)
        alive = [s for s in self.slots if s.alive] + [fresh]
        a = Assignment(self.phases, len(alive), sorted(s.index for s in alive).index(dead.index), at, self._next_revision())
        fresh.assignments.append((a, self.end_s))
        self.slots[dead.index] = fresh
        self._placed(fresh.ready)
        fresh.run = fresh.actor.run.remote(self.start_ns, a)
        self.board.last_seen_ns[dead.index] = time.time_ns()  # its heartbeats start now
        self._tasks.append(asyncio.ensure_future(self._watch(fresh, fresh.run)))
        self._event("restart", at, worker=dead.index)

    async def _reassign(self, at: float) -> None:
        """Give every live worker its share of the current plan from ``at`` on."""
        alive = [s for s in self.slots if s.alive]
        revision = self._next_revision()
        for s in self.slots:
            self._close_assignment(s, at)
        for rank, s in enumerate(alive):
            a = Assignment(self.phases, len(alive), rank, at, revision)
            s.assignments.append((a, self.end_s))
            s.actor.revise.remote(a)

    def _close_assignment(self, slot: Slot, at: float) -> None:
        if slot.assignments:
            a, until = slot.assignments[-1]
            slot.assignments[-1] = (a, min(until, at))

    async def _abort(self, reason: str, kind: str) -> None:
        self.aborted, self.abort_kind = reason, kind
        self._event("abort", self._elapsed(), reason=reason)
        await self.stop()

    def _alert(self, b: Breach) -> None:
        self._event("breach", b.at_s, kind=b.kind, expr=b.expr, value=b.value)
        url = self.scenario.alert_webhook
        if url:
            body = {"threshold": b.expr, "kind": b.kind, "value": b.value, "time": time.time(),
                    "run": self.scenario.name, "elapsed_s": round(b.at_s, 3)}
            asyncio.get_running_loop().run_in_executor(None, _post_json, url, body)

    def _warn_saturation(self) -> None:
        """Warn once per worker and kind when it stays saturated for a few seconds."""
        for worker, (send_lag, loop_lag, cpu) in list(self.board.lag.items()):
            for kind, hit, what in (
                ("send lag", send_lag > SEND_LAG_WARN_MS, f"send lag p99 {send_lag:.0f} ms"),
                ("loop lag", loop_lag > LOOP_LAG_WARN_MS, f"event-loop lag {loop_lag:.0f} ms"),
                ("cpu", cpu > CPU_WARN_PERCENT, f"CPU {cpu:.0f}%"),
            ):
                key = (worker, kind)
                self._saturated[key] = self._saturated.get(key, 0) + 1 if hit else 0
                if self._saturated[key] == SATURATED_TICKS:
                    self.warnings.append(f"worker {worker} saturated: {what}; latency is under-stated, add workers")

    def _snapshot(self, now_ns: int) -> LiveStatus:
        b = self.board
        elapsed = (now_ns - self.start_ns) / 1e9
        last = b.window(now_ns, 1)
        profile = Profile(self.phases)
        seg = profile.segment_at(max(elapsed, 0.0))
        p50, p99 = last.latency.quantile_ns(0.5), last.latency.quantile_ns(0.99)
        return LiveStatus(
            state=self.state,
            elapsed_s=max(elapsed, 0.0),
            duration_s=self.end_s,
            phase=seg.index if seg else 0,
            target_rate=0.0 if self.scenario.model == "closed" else profile.rate(elapsed),
            users=users_at(profile, max(elapsed, 0.0)) if self.scenario.model == "closed" else None,
            achieved_rate=last.rate,
            p50_ms=None if p50 is None else p50 / 1e6,
            p99_ms=None if p99 is None else p99 / 1e6,
            errors_per_s=float(last.errors),
            in_flight=sum(b.in_flight.values()),
            totals=b.run_totals(),
            workers_alive=sum(s.alive for s in self.slots),
            workers_total=len(self.slots),
            outcomes=dict(b.outcomes),
            latency=b.latency,
            warnings=tuple(self.warnings),
            aborted=self.aborted,
        )

    def _placed(self, r: WorkerReady) -> None:
        self.placement.append({"worker": r.index, "node": r.node, "host": r.host, "pid": r.pid})

    def _event(self, event: str, at_s: float, **data) -> None:
        self.events.append({"at_s": round(at_s, 3), "event": event, **data})

    def _elapsed(self) -> float:
        return (time.time_ns() - self.start_ns) / 1e9

    def _new_phase_number(self) -> int:
        return max(p.number for p in self.phases) + 1

    def _next_revision(self) -> int:
        self.revision += 1
        return self.revision


def _post_json(url: str, body: dict) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        urllib.request.urlopen(request, timeout=5).close()
    except Exception:
        pass  # an alert receiver that is down must not disturb the run


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
