"""The coordinator actor: the Ray shell around :class:`~loadray.fleet.conductor.Conductor`.

It creates the worker actors (so they share its fate: a dead coordinator or driver
leaves no worker running), pre-warms them, then feeds the conductor what happens —
renewals, heartbeats, finished or failed runs, the clock's ticks, commands — and
carries out the actions it returns. Every call it makes to a worker is either fire
and forget or bounded by a timeout: a partition hangs calls, it does not fail them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.request
from dataclasses import dataclass, field, replace
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from loadray.cluster.worker_actor import WorkerActor
from loadray.engine.archiver import ArchiveSpec
from loadray.engine.clock import SystemClock
from loadray.engine.worker import DEFAULT_FLUSH_INTERVAL_S, WorkerReady, WorkerSpec
from loadray.fleet.accounting import Share
from loadray.fleet.actions import Action, Alert, Halt, Key, Revise, Spawn, Start
from loadray.fleet.clock_offset import CLOCK_PROBES, ClockOffset, clock_offset
from loadray.fleet.conductor import Conductor
from loadray.fleet.records import as_dict
from loadray.live.command import Command
from loadray.live.histogram import LogHistogram
from loadray.live.rules import Breach
from loadray.live.status import LiveStatus, WorkerSecond
from loadray.scenario.model import Scenario

logger = logging.getLogger(__name__)

TICK_S = 0.25
SPAWN_TIMEOUT_S = 30.0
GONE_TIMEOUT_S = 5.0  # how long kill_all waits for the killed workers to be dead
PROCESS_EXITED = "because its worker process has died"  # Ray's words for an ended actor process


@dataclass(frozen=True)
class RunRecord:
    """What the archive keeps of the live run besides the rows."""

    events: list[dict]
    shares: list[Share]
    stop_s: float  # when the run stopped (its planned end if it ran to the end)
    warnings: list[str]
    aborted: str | None
    abort_kind: str | None  # "threshold" | "worker_loss" | None
    placement: list[dict]  # per worker incarnation: worker, incarnation, node, address, host, pid
    live_latency_ms: dict  # whole run, from the merged heartbeat histograms (p50, p99)
    lease_s: float  # a worker's lease: it sends nothing later than this after its last renewal
    flush_interval_s: float  # how often a worker moves its rows to its outbox
    live_steps_latency_ms: dict = field(default_factory=dict)  # step -> the same, per live-scoped step


class Coordinator:
    def __init__(self, scenario: Scenario, worker_cpus: float, archive: ArchiveSpec | None = None,
                 worker_env: dict[str, str] | None = None) -> None:
        self.scenario = scenario
        self.worker_cpus = worker_cpus
        self.archive = archive  # where the workers that write their own parts write them
        self.worker_env = worker_env or {}  # the storage's settings and credentials, for workers
        self.conductor = Conductor(scenario, SystemClock())
        self.actors: dict[Key, Any] = {}  # Ray actor handles
        self.offsets: dict[Key, ClockOffset] = {}  # each worker host's clock offset
        self._tasks: set[asyncio.Task] = set()
        self._ticked = asyncio.Event()  # set (and replaced) after every tick

    # -- start ---------------------------------------------------------------------

    async def prepare(self, ready_timeout_s: float) -> tuple[list[WorkerReady], str | None]:
        """Create and pre-warm every worker; all or nothing (error text, never raises)."""
        keys = [(i, 0) for i in range(self.scenario.workers)]
        for key in keys:
            self.actors[key] = self._new_actor(key, None)
        try:
            ready = await asyncio.wait_for(asyncio.gather(*[self._ready(k) for k in keys]), ready_timeout_s)
        except asyncio.TimeoutError:
            self._kill_all()
            return [], (f"workers: not every one of {len(keys)} workers was placed and ready "
                        f"within {ready_timeout_s:g}s; refusing to run with fewer")
        except ray.exceptions.RayError as exc:
            self._kill_all()
            return [], f"workers: a worker failed to start: {_last_line(exc)}"
        for r in ready:
            self.conductor.joined(r)
        return list(ready), None

    async def _ready(self, key: Key) -> WorkerReady:
        """Measure the worker host's clock offset, then make and pre-warm the worker
        with it (see :mod:`loadray.fleet.clock_offset`)."""
        actor = self.actors[key]
        samples = []
        for _ in range(CLOCK_PROBES):
            before = time.time_ns()
            samples.append((before, await actor.wall_ns.remote(), time.time_ns()))
        self.offsets[key] = offset = clock_offset(samples)
        ready = await actor.prepare.remote(offset.correction_ns)
        return replace(ready, clock_offset_ns=offset.offset_ns, clock_error_ns=offset.error_ns)

    def _new_actor(self, key: Key, avoid_node: str | None):
        spec = WorkerSpec(key[0], self.scenario.workers, self.scenario, incarnation=key[1], archive=self.archive)
        me = ray.get_runtime_context().current_actor
        env = {"runtime_env": {"env_vars": dict(self.worker_env)}} if self.worker_env else {}
        return ray.remote(WorkerActor).options(
            num_cpus=self.worker_cpus, max_concurrency=16, scheduling_strategy=_placement(avoid_node), **env,
        ).remote(spec, me)

    async def begin(self) -> int:
        start_ns, actions = self.conductor.begin()
        self._carry_out(actions)
        self._spawn_task(self._tick_forever())
        return start_ns

    # -- what workers and the driver call --------------------------------------------

    async def renew(self, index: int, incarnation: int, lapsed: bool) -> str:
        answer, actions = self.conductor.renew((index, incarnation), lapsed)
        self._carry_out(actions)
        return answer

    async def heartbeat(self, hb: WorkerSecond) -> None:
        self._carry_out(self.conductor.heartbeat(hb))

    async def status(self) -> LiveStatus:
        return self.conductor.status()

    async def watch(self, wait_s: float, seen: tuple | None) -> tuple[LiveStatus, tuple]:
        """The driver's long poll: the live status and its :meth:`_news`, answered after
        ``wait_s`` or right after the first tick whose news differ from ``seen`` (the state
        changed -- the end --, a warning came, the run was aborted, an event such as a
        loss or a restart happened)."""
        end = time.monotonic() + wait_s
        while self._news() == seen and (left := end - time.monotonic()) > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._ticked.wait(), left)
        return self.conductor.status(), self._news()

    def _news(self) -> tuple:
        """What a long poll answers at once when it changes: (state, warnings, aborted,
        events); the last item counts the events (losses, restarts...)."""
        c = self.conductor
        return c.state, len(c.watch.warnings), c.verdict.aborted, len(c.events)

    async def workers(self) -> list[tuple[int, int, object, bool]]:
        """Every incarnation whose actor may still hold rows: (index, incarnation,
        handle, member) — lost ones too, so that their rows still reach the archive."""
        members = self.conductor.members
        return [(k[0], k[1], a, members[k].alive) for k, a in self.actors.items()
                if k in members and not members[k].dead]

    async def control(self, command: Command) -> str:
        answer, actions = self.conductor.control(command.kind, command.rate)
        self._carry_out(actions)
        return answer

    async def stop(self) -> None:
        self._carry_out(self.conductor.stop())

    async def record(self) -> RunRecord:
        c = self.conductor
        return RunRecord(
            [as_dict(e) for e in c.events], c.shares(), c.end_s if c.stopped_s is None else c.stopped_s,
            list(c.watch.warnings), c.verdict.aborted, c.verdict.abort_kind,
            [as_dict(p) for p in c.placement], _live_ms(c.board.latency), c.lease_s, DEFAULT_FLUSH_INTERVAL_S,
            {step: _live_ms(board.latency) for step, board in c.board.steps.items()},
        )

    async def kill_all(self) -> None:
        """Kill every worker and return once Ray reports each dead (at most
        :data:`GONE_TIMEOUT_S`): the driver then deletes the parts they left open, which a
        worker still dying could otherwise create again."""
        self._kill_all()
        deadline = time.monotonic() + GONE_TIMEOUT_S
        await asyncio.gather(*(_dead(actor, deadline) for actor in self.actors.values()))

    def _kill_all(self) -> None:
        for actor in self.actors.values():
            ray.kill(actor, no_restart=True)

    # -- carrying out ----------------------------------------------------------------

    def _carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Start):
                actor = self.actors[action.key]
                granted = time.time_ns() - self.offsets[action.key].grant_slack_ns
                ref = actor.run.remote(self.conductor.start_wall_ns, action.assignment, granted)
                self._spawn_task(self._watch(action.key, ref))
            elif isinstance(action, Revise):
                self.actors[action.key].revise.remote(action.assignment)
            elif isinstance(action, Halt):
                self.actors[action.key].stop.remote()
            elif isinstance(action, Spawn):
                self._spawn_task(self._restart(action))
            elif isinstance(action, Alert):
                self._alert(action.breach)

    async def _watch(self, key: Key, run_ref) -> None:
        try:
            await run_ref
        except ray.exceptions.RayError as exc:
            self._carry_out(self.conductor.died(key, f"the actor died: {_last_line(exc)}", _process_exited(exc)))
        else:
            self.conductor.finished(key)
            self._tick()  # the last one to finish ends the run now, not at the next tick

    async def _restart(self, spawn: Spawn) -> None:
        self.actors[spawn.key] = actor = self._new_actor(spawn.key, spawn.avoid_node)
        try:
            ready = await asyncio.wait_for(self._ready(spawn.key), SPAWN_TIMEOUT_S)
        except Exception as exc:
            ray.kill(actor, no_restart=True)
            del self.actors[spawn.key]
            self._carry_out(self.conductor.spawn_failed(spawn.key, _last_line(exc)))
            return
        self._carry_out(self.conductor.spawned(ready))

    async def _tick_forever(self) -> None:
        while self.conductor.state != "finished":
            await asyncio.sleep(TICK_S)
            self._tick()

    def _tick(self) -> None:
        try:
            self._carry_out(self.conductor.tick())
        except Exception as exc:  # a bug here must not freeze the run: say it, go on
            self.conductor.watch.warn(f"coordinator error: {type(exc).__name__}: {exc}")
            logger.exception("coordinator tick failed")
        ticked, self._ticked = self._ticked, asyncio.Event()
        ticked.set()  # the long polls look at the news again

    def _spawn_task(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _alert(self, b: Breach) -> None:
        url = self.scenario.alert_webhook
        if url:
            body = {"threshold": b.expr, "kind": b.kind, "value": b.value, "time": time.time(),
                    "run": self.scenario.name, "elapsed_s": round(b.at_s, 3)}
            if b.step is not None:
                body["step"] = b.step
            asyncio.get_running_loop().run_in_executor(None, _post_json, url, body)


def _live_ms(h: LogHistogram) -> dict:
    """p50 and p99 of a live histogram, in ms ({} when empty)."""
    return {f"p{q * 100:g}": (h.quantile_ns(q) or 0) / 1e6 for q in (0.5, 0.99)} if h.count else {}


def _placement(avoid_node: str | None):
    """SPREAD; a replacement prefers the live node with the most free CPU that is not
    the one its predecessor was lost on."""
    if avoid_node is None:
        return "SPREAD"
    from ray._private.state import available_resources_per_node  # no public API for this yet

    free = available_resources_per_node()
    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n["NodeID"] != avoid_node
             and n.get("Resources", {}).get("CPU", 0) > 0]
    if not nodes:
        return "SPREAD"
    best = max(nodes, key=lambda n: free.get(n, {}).get("CPU", 0))
    return NodeAffinitySchedulingStrategy(best, soft=True)


def _post_json(url: str, body: dict) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        urllib.request.urlopen(request, timeout=5).close()
    except Exception:
        pass  # an alert receiver that is down must not disturb the run


def _process_exited(exc: BaseException) -> bool:
    """Ray saw the actor's process end (its raylet read EOF on its socket), rather than
    losing its node: a process that ended sends nothing more."""
    return isinstance(exc, ray.exceptions.ActorDiedError) and PROCESS_EXITED in str(exc)


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


async def _dead(actor, deadline: float) -> None:
    """Until ``actor`` no longer answers (killed: its process has exited) or ``deadline``."""
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(actor.__ray_ready__.remote(), max(0.01, deadline - time.monotonic()))
        except ray.exceptions.RayActorError:
            return
        except (asyncio.TimeoutError, ray.exceptions.RayError):
            pass
        await asyncio.sleep(0.05)
