"""Runs one flow instance: its steps in order, with templating, retries, checks and
extraction, one row per attempt.

Times of a step's rows: the first attempt is intended when the flow instance is
(step 1) or when the previous step finished (later steps); a retry keeps the first
attempt's ``intended`` so its ``latency_ns`` spans all attempts so far, and is sent
after the backoff. The instance's last row carries ``flow_ns``: from the instance's
intended start to that row's end. A step whose templates need a variable that was
never set is a row with error ``template`` that never went on the wire.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

from loadray.engine.clock import Clock, sleep_through
from loadray.engine.errors import CUT
from loadray.engine.flow_client import FlowClient, Reply
from loadray.engine.flow_samples import FlowBuffer
from loadray.flow.checks import ERROR_KIND as CHECK
from loadray.flow.checks import evaluate
from loadray.flow.extract import extract_all
from loadray.flow.render import Rendered, render_step
from loadray.flow.retry import backoff_s, should_retry
from loadray.flow.templates import ERROR_KIND as TEMPLATE
from loadray.flow.templates import MissingVariable
from loadray.scenario.model import Flow, Step


@dataclass
class Instance:
    """One flow instance: an open-model arrival or one closed-model user iteration."""

    flow: int
    intended_ns: int  # monotonic
    phase: int
    flow_id: int
    session: Any  # the aiohttp session holding this user's cookie jar
    variables: dict[str, object] = field(default_factory=dict)
    user: int | None = None


def trace_base(worker: int) -> int:
    """Worker ``worker``'s trace numbers start above this: unique in the run."""
    return (worker + 1) << 40


class Traces:
    """Fresh W3C trace ids: the worker's random 64-bit prefix, then a counter."""

    def __init__(self, worker: int, prefix: str) -> None:
        self.prefix = prefix
        self._next = trace_base(worker)

    def new(self) -> tuple[str, int]:
        self._next += 1
        return f"{self.prefix}{self._next:016x}", self._next

    @staticmethod
    def header(trace_id: str, span: int) -> tuple[str, str]:
        return "traceparent", f"00-{trace_id}-{span:016x}-01"


class FlowRunner:
    def __init__(
        self,
        flows: tuple[Flow, ...],
        client: FlowClient,
        buffer: FlowBuffer,
        clock: Clock,
        base_url: str,
        headers: tuple[tuple[str, str], ...],
        rng: random.Random,
        traces: Traces | None,
    ) -> None:
        self.flows = flows
        self.client = client
        self.buffer = buffer
        self.clock = clock
        self.base_url = base_url
        self.headers = headers
        self.rng = rng
        self.traces = traces

    async def run(self, inst: Instance) -> bool:
        """Run every step (until one fails and stops the flow); True when all passed."""
        steps = self.flows[inst.flow].steps
        first = self.buffer.first_step[inst.flow]
        ready, ok, last = inst.intended_ns, True, None
        try:
            for number, step in enumerate(steps):
                rows, error, response = await self._step(step, first + number, inst, ready)
                for row in rows[:-1]:
                    self._record(row)
                if last is not None:
                    self._record(last)
                last = rows[-1]
                ready = last[2]
                if error is None:
                    found = extract_all(step.extract, response) if step.extract and response else {}
                    inst.variables.update(found)
                    inst.variables.update({f"{step.name}.{k}": v for k, v in found.items()})
                    continue
                ok = False
                if step.stop_on_failure:
                    break
        except asyncio.CancelledError:  # the run stopped mid-flow: no flow latency
            if last is not None:
                self._record(last)
            raise
        if last is not None:
            self._record(last, flow_ns=last[2] - inst.intended_ns)
        return ok

    async def _step(self, step: Step, gid: int, inst: Instance, ready: int):
        """Every attempt of one step: (rows, final error, final response). If the run
        stops meanwhile, the rows so far are recorded (the one in flight as ``cut``)."""
        trace_id, span = self.traces.new() if self.traces else (None, 0)
        keep_body = bool(step.extract or step.checks)
        rows: list[tuple] = []
        attempt = 1
        while True:
            inst.variables["now"] = time.time_ns() // 1_000_000
            try:
                out = render_step(step, self.base_url, self.headers, inst.variables, self.rng)
            except MissingVariable:
                now = self.clock.monotonic_ns()
                rows.append(self._row(inst, gid, ready, Reply(0, TEMPLATE, now, now), attempt, trace_id))
                return rows, TEMPLATE, None
            if trace_id is not None:
                out = _with_header(out, Traces.header(trace_id, span + ((attempt - 1) << 56)))
            sent = self.clock.monotonic_ns()
            try:
                reply = await self.client.send(inst.session, out, keep_body)
            except asyncio.CancelledError:
                cut = Reply(0, CUT, sent, self.clock.monotonic_ns())
                self._cancelled(rows + [self._row(inst, gid, ready, cut, attempt, trace_id)])
            error, kind = reply.error, reply.error
            if error is None and step.checks:
                failed = evaluate(step.checks, reply.response)
                if failed is not None:
                    error, kind = f"{CHECK}:{failed}", CHECK
            rows.append(self._row(inst, gid, ready, reply, attempt, trace_id, error))
            if error is None or not should_retry(step.retry, attempt, reply.status, kind):
                return rows, error, reply.response
            try:
                await sleep_through(self.clock, reply.done_ns + int(backoff_s(step.retry, attempt, self.rng) * 1e9))
            except asyncio.CancelledError:
                self._cancelled(rows)
            attempt += 1

    def _cancelled(self, rows: list[tuple]) -> None:
        """The run stopped inside a step: keep its rows, then go on stopping."""
        for row in rows:
            self._record(row)
        raise asyncio.CancelledError

    @staticmethod
    def _row(inst: Instance, gid: int, ready: int, reply: Reply, attempt: int, trace_id, error: Any = False) -> tuple:
        return (
            ready, reply.sent_ns, reply.done_ns, reply.status, reply.error if error is False else error,
            gid, inst.phase, reply.nbytes, attempt, inst.user, inst.flow_id, None, trace_id,
        )

    def _record(self, row: tuple, flow_ns: int | None = None) -> None:
        if flow_ns is not None:
            row = row[:11] + (flow_ns,) + row[12:]
        self.buffer.add(row)


def _with_header(out: Rendered, header: tuple[str, str]) -> Rendered:
    return Rendered(out.method, out.url, out.headers + (header,), out.body, out.timeout_s)
