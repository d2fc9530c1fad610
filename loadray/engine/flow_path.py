"""The flow path of one worker: turns open-model arrivals and closed-model user
iterations into flow instances, each with its variables, feeder rows and cookie jar.

Used instead of a plain :class:`~loadray.engine.transport.Transport` whenever the
scenario is not :attr:`~loadray.scenario.model.Scenario.simple`.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Callable
from typing import Any

from loadray.engine.clock import Clock
from loadray.engine.closed_loop import UserDone
from loadray.engine.fast_client import FastFlowClient, FlowSession
from loadray.engine.fenced_client import FencedClient
from loadray.engine.flow_client import FlowClient, FlowClientFactory, SessionClient
from loadray.engine.flow_runner import FlowRunner, Instance, Traces
from loadray.engine.h2 import H2Client, VersionedClient
from loadray.engine.http1 import UNSPOKEN_HEADERS
from loadray.engine.inline_task import InlineTask
from loadray.engine.lease import NEVER, Lease
from loadray.engine.row_buffer import DONE, RowBuffer
from loadray.engine.static_flows import StaticFlows, static_wires
from loadray.engine.transport import TransportSettings
from loadray.flow.feeders import open_feeder, row_vars
from loadray.scenario.model import Scenario


def step_names(scenario: Scenario) -> tuple[list[str], list[int]]:
    """Row step names (``FLOW/STEP``, or the request's name for a one-step flow) and
    the index of each flow's first step among them."""
    names: list[str] = []
    first: list[int] = []
    for flow in scenario.flows:
        first.append(len(names))
        names.extend(flow.row_names)
    return names, first


def flow_client_kind(
    transport: str, target_url: str, step_paths: list[str], cert_file: str | None, header_names: tuple[str, ...] = (),
    methods: tuple[str, ...] = (),
) -> str:
    """``fast`` (:class:`FastFlowClient`) unless the scenario asks for ``aiohttp``, sends a
    TLS client certificate, has a target or a step that is not plain ``http`` (a step
    path must start with ``/`` or ``http://``: a templated scheme could be https), or
    a header or method the HTTP/1.1 core does not speak (Expect, Upgrade,
    Transfer-Encoding; CONNECT)."""
    if transport == "aiohttp" or cert_file:
        return "aiohttp"
    if target_url and not target_url.lower().startswith("http://"):
        return "aiohttp"
    for path in step_paths:
        if not (path.startswith("/") or path.lower().startswith("http://")):
            return "aiohttp"
    if any(name.lower() in UNSPOKEN_HEADERS for name in header_names):
        return "aiohttp"
    if any(method.upper() == "CONNECT" for method in methods):
        return "aiohttp"
    return "fast"


def _client(kind: str, settings: TransportSettings, clock: Clock, h1_steps: list, h2_steps: int,
            lease: Lease | None) -> SessionClient:
    """The client of the flow path: HTTP/1.1 (``kind``), HTTP/2 (sending nothing more
    once ``lease`` lapsed, not even what it took before), or both for a mix."""
    if not h2_steps:
        return FastFlowClient(settings, clock) if kind == "fast" else FlowClient(settings, clock)
    h2 = H2Client(settings, clock, lease)
    if not h1_steps:
        return h2
    h1 = FastFlowClient(settings, clock) if kind == "fast" else FlowClient(settings, clock)
    return VersionedClient(h1, h2, shared_jar=kind == "fast")


class FlowPath:
    def __init__(
        self,
        scenario: Scenario,
        index: int,
        workers: int,
        clock: Clock,
        buffer: RowBuffer,
        settings: TransportSettings,
        base_url: str,
        lease: Lease | None = None,
        client_factory: FlowClientFactory | None = None,
    ) -> None:
        self.index = index
        self.clock = clock
        self.rng = random.Random(f"{scenario.seed}/worker/{index}")
        self._unique = random.Random(secrets.randbits(64))  # {{ uuid }}: fresh in every run, no syscall
        steps = [step for flow in scenario.flows for step in flow.steps]
        self._templated = not all(step.literal for step in steps)
        names = tuple(name for name, _ in scenario.http.headers) + tuple(n for s in steps for n, _ in s.headers)
        h1_steps = [s for s in steps if s.http_version == 1]
        kind = flow_client_kind(scenario.transport, base_url, [s.path.source for s in h1_steps], settings.cert_file,
                                names, tuple(s.method for s in h1_steps))
        if client_factory is not None:  # a test's client: its steps run in tasks
            kind = "injected"
        self.client: SessionClient = client_factory(settings, clock) if client_factory else _client(
            kind, settings, clock, h1_steps, len(steps) - len(h1_steps), lease
        )
        if client_factory is None and not h1_steps:
            kind = "h2"
        grpc = any(step.grpc is not None for step in steps)
        if grpc:  # gRPC steps beside (or instead of) HTTP ones; grpcio only then
            from loadray.engine.grpc import with_grpc

            self.client = with_grpc(self.client, settings, clock, base_url)
        traces = Traces(index, settings.trace_prefix) if settings.trace_prefix else None
        fenced = FencedClient(self.client, lease or Lease(NEVER, until_ns=NEVER), clock.monotonic_ns)
        self.runner = FlowRunner(
            scenario.flows, fenced, buffer, clock, base_url, scenario.http.headers, self.rng, traces,
            scenario.http.max_body,
        )
        self.feeders = [
            (feed.spec.name, open_feeder(feed.spec, list(feed.rows), index, workers, self.rng))
            for feed in scenario.feeds
        ]
        self._feeds = self._templated or bool(self.feeders)  # else _feed has nothing to do
        self._next_id = ((index + 1) << 48) | (secrets.randbits(16) << 32)
        # aiohttp needs a Task (its timeouts look for the current task); so does grpcio
        self._inline = kind in ("fast", "h2") and not grpc
        self._tasks: set[asyncio.Task | InlineTask] = set()
        wires = static_wires(scenario, kind, self.runner.fixed, settings) if not grpc else None
        self.static = StaticFlows(wires, scenario, buffer.first_step, buffer, clock, settings,
                                  lease or Lease(NEVER, until_ns=NEVER), traces, self._new_id) if wires else None
        self.on_flow_done = lambda ctx, ok: None
        self.on_exhausted: Callable[[str], None] = lambda feeder: None  # a stop_run feeder ran out

    @property
    def on_flow_done(self) -> Callable[[Any, bool], None]:
        """Called with (the arrival's ctx, whether every step passed) as an instance ends."""
        return self._on_flow_done

    @on_flow_done.setter
    def on_flow_done(self, callback: Callable[[Any, bool], None]) -> None:
        self._on_flow_done = callback
        if self.static is not None:
            self.static.on_flow_done = callback

    async def open(self, prewarm: int = 0) -> int:
        """Get ready; the connections opened in advance (up to ``prewarm`` per host, on
        the callback-driven path of static flows only)."""
        await self.client.open()
        return await self.static.open(prewarm) if self.static is not None else 0

    def submit(self, flow: int, ctx: Any, trace: int = 0) -> None:
        """An open-model arrival (``ctx`` as the open loop builds it) starts one instance;
        ``trace`` is unused: each step of a flow gets its own trace id."""
        if self.static is not None:  # static steps only: driven by the HTTP core's callbacks
            self.static.submit(flow, ctx)
            return
        if self._inline:  # resumed straight from the HTTP core's callbacks
            inline = InlineTask(self._arrival(flow, ctx), self._tasks.discard)
            if not inline.done():
                self._tasks.add(inline)
            return
        task = asyncio.ensure_future(self._arrival(flow, ctx))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def iteration(self, session: Any, variables: dict, user: int, flow: int, intended_ns: int, phase: int) -> bool:
        """One closed-model user iteration, in that user's session and variables."""
        instance = Instance(flow, intended_ns, phase, self._new_id(), session, variables, user)
        try:
            fed = self._feed(variables, user)
        except Exception as exc:  # a feeder that raises: the iteration is an internal row
            return self._failed(instance, exc)
        if not fed:
            raise UserDone(user)
        return await self.runner.run(instance)

    def session(self) -> Any:
        return self.client.session()

    async def close(self) -> None:
        """Cancel the instances under way (their in-flight steps become ``cut``)."""
        for task in list(self._tasks):
            task.cancel()
        tasks = [task for task in self._tasks if isinstance(task, asyncio.Task)]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.static is not None:
            await self.static.close()
        await self.client.close()

    async def _arrival(self, flow: int, ctx: Any) -> None:
        intended, _, _, phase, _ = ctx
        ok = False
        instance = Instance(flow, intended, phase, self._new_id(), None)
        try:
            if self._feeds and not self._feed(instance.variables, instance.flow_id):
                return
            instance.session = session = self.client.session()
            try:
                ok = await self.runner.run(instance)
            finally:
                if type(session) is not FlowSession:  # (the HTTP/1.1 core's: nothing to close)
                    await session.close()
        except Exception as exc:  # outside the runner (a feeder, the session): still a row
            self._failed(instance, exc)
        finally:
            self._on_flow_done(ctx, ok)

    def _failed(self, instance: Instance, exc: Exception) -> bool:
        """An instance that could not run: an ``internal`` row for its first step."""
        row = self.runner.failed_row(instance, self.runner.buffer.first_step[instance.flow], instance.intended_ns, exc)
        self.runner.record(row, flow_ns=row[DONE] - instance.intended_ns)
        return False

    def _feed(self, variables: dict, user: int) -> bool:
        """Fresh built-ins and one row of every feeder; False when a feeder ran out
        (with ``stop_run`` the worker is told to stop, too)."""
        if self._templated:  # nothing reads the built-ins of a scenario without variables
            variables.update(uuid=f"{self._unique.getrandbits(128):032x}", worker=self.index, user=user)
        for name, feeder in self.feeders:
            row = feeder.next()
            if row is None:
                if feeder.when_exhausted == "stop_run":
                    self.on_exhausted(name)
                return False
            variables.update(row_vars(name, row))
        return True

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id
