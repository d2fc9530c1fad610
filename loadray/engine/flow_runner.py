"""Runs one flow instance: its steps in order, with templating, retries, checks and
extraction, one row per attempt.

Times of a step's rows: the first attempt is intended when the flow instance is
(step 1) or when the previous step finished (later steps); a retry keeps the first
attempt's ``intended`` so its ``latency_ns`` spans all attempts so far, and is sent
after the backoff. The instance's last row carries ``flow_ns``: from the instance's
intended start to that row's end.

A failure is always a row, never a lost task (``error_detail`` says what raised):

- a step whose templates need a variable that was never set is a row with error
  ``template`` that never went on the wire (any other failure to render it:
  ``internal``);
- a check that raises instead of passing or failing: ``check_error``; an extraction
  that raises: ``extract`` (both end the step as failed; neither is retried);
- a transport failure: its kind from :mod:`loadray.engine.failures`;
- anything else that raises (a defect): ``internal``, and the run exits 1.

A check or extraction reads at most the step's ``max_body`` bytes of the body; a step
with neither keeps no body at all (and a status-only check or a header/cookie
extraction keeps none either).

A step without variables (:attr:`~loadray.scenario.model.Step.literal`) is rendered once, when the runner is made;
each attempt hands the client a :class:`~loadray.engine.step_request.StepRequest` of
that request and the attempt's trace header.
"""

from __future__ import annotations

import asyncio
import random
from binascii import hexlify
from dataclasses import dataclass, field
from typing import Any

from loadray.engine.clock import Clock, sleep_through
from loadray.engine.failures import error_detail
from loadray.engine.flow_client import Reply, StepClient
from loadray.engine.row_buffer import DONE, RowBuffer, with_flow_ns
from loadray.engine.step_request import StepRequest
from loadray.flow.checks import CheckError, evaluate
from loadray.flow.extract import ExtractError, extract_all
from loadray.flow.render import render_step
from loadray.flow.retry import backoff_ns, should_retry
from loadray.flow.templates import MissingVariable
from loadray.grpc.render import render_grpc
from loadray.kinds import CHECK, CHECK_ERROR, CUT, EXTRACT, INTERNAL, TEMPLATE
from loadray.scenario.model import DEFAULT_MAX_BODY, Flow, Step
from loadray.stream.table import ChunkBuffer


@dataclass(slots=True)
class Instance:
    """One flow instance: an open-model arrival or one closed-model user iteration."""

    flow: int
    intended_ns: int  # monotonic
    phase: int
    flow_id: int
    session: Any  # the client's session holding this user's cookie jar
    variables: dict[str, object] = field(default_factory=dict)
    user: int | None = None


def trace_base(worker: int) -> int:
    """Worker ``worker``'s trace numbers start above this: unique in the run."""
    return (worker + 1) << 40


class Traces:
    """Fresh W3C trace ids: the worker's random 64-bit prefix, then a counter (the
    number a row keeps: its ``trace_id`` is built from it at flush)."""

    def __init__(self, worker: int, prefix: str) -> None:
        self.prefix = prefix
        self._head = f"00-{prefix}".encode("ascii")
        self._next = trace_base(worker)

    def new(self) -> int:
        self._next += 1
        return self._next

    def value(self, trace: int, span: int) -> bytes:
        """The ``traceparent`` header value of span ``span`` of trace number ``trace``,
        ``00-{prefix}{trace:016x}-{span:016x}-01`` as ASCII bytes, built without
        formatting (the hot path's)."""
        digits = hexlify(trace.to_bytes(8, "big"))
        spans = digits if span == trace else hexlify(span.to_bytes(8, "big"))
        return b"".join((self._head, digits, b"-", spans, b"-01"))


def body_limit(step: Step, max_body: int) -> int | None:
    """What the client keeps of a response to ``step``: None (no response at all: no
    check, no extraction), 0 (status, headers and cookies only) or the step's
    ``max_body`` (``max_body``, the http default, when the step sets none) when a check
    or an extraction reads the body."""
    needs = (*step.checks, *step.extract)
    if not needs:
        return None
    if not any(need.reads_body for need in needs):
        return 0
    return step.max_body if step.max_body is not None else max_body


class FlowRunner:
    def __init__(
        self,
        flows: tuple[Flow, ...],
        client: StepClient,
        buffer: RowBuffer,
        clock: Clock,
        base_url: str,
        headers: tuple[tuple[str, str], ...],
        rng: random.Random,
        traces: Traces | None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.flows = flows
        self.client = client
        self.buffer = buffer
        self.clock = clock
        self.base_url = base_url
        self.headers = headers
        self.rng = rng
        self.traces = traces
        self._add = buffer.add
        steps = [step for flow in flows for step in flow.steps]
        self._keep = [body_limit(step, max_body) for step in steps]  # by step number
        # a step without variables renders to the same request every time: once, here (by step number)
        self.fixed = [render(s, base_url, headers, {}, rng) if s.literal else None for s in steps]
        # ... and, without traces, so is what the client gets
        self._untraced = [StepRequest(out, None, True) if out is not None and traces is None else None
                          for out in self.fixed]
        # the chunks/ side table, when a step streams
        self.chunks = ChunkBuffer(buffer.worker, buffer.step_names, buffer.anchor_ns) if any(
            s.stream is not None for s in steps) else None

    async def run(self, inst: Instance) -> bool:
        """Run every step (until one fails and stops the flow); True when all passed.
        Every step that started leaves its rows, whatever raises. Each step's last row
        is held (``last``) until the next step's, the flow's last row gets ``flow_ns``."""
        steps = self.flows[inst.flow].steps
        first = self.buffer.first_step[inst.flow]
        ready, ok, last, gid = inst.intended_ns, True, None, first
        add, now, traces, send, keep = self._add, self.clock.monotonic_ns, self.traces, self.client.send, self._keep
        sent = None  # when the attempt in flight went out (None: none is)
        try:
            for number, step in enumerate(steps):
                gid, attempt = first + number, 1
                trace = traces.new() if traces else 0
                while True:  # the step's attempts; one coroutine for the whole flow
                    out = self._render(step, gid, inst, trace, trace + ((attempt - 1) << 56))
                    sent = now()
                    if isinstance(out, Reply):
                        reply = out
                    else:
                        try:
                            reply = await send(inst.session, out, keep[gid])
                        except Exception as exc:  # the client maps every failure: this is a defect
                            reply = Reply(0, INTERNAL, sent, now(), detail=error_detail(exc))
                    sent = None
                    row, error, kind, found = self._outcome(step, gid, inst, ready, reply, attempt, trace)
                    if error is None or not should_retry(step.retry, attempt, reply.status, kind):
                        break
                    add(row)  # a failed attempt that is tried again
                    await sleep_through(self.clock, reply.done_ns + backoff_ns(step.retry, attempt, self.rng))
                    attempt += 1
                if last is not None:
                    add(last)
                last, ready = row, row[DONE]
                if error is None:
                    if found:
                        inst.variables.update(found)
                        inst.variables.update({f"{step.name}.{k}": v for k, v in found.items()})
                    continue
                ok = False
                if step.stop_on_failure:
                    break
        except asyncio.CancelledError:  # the run stopped mid-flow: no flow latency
            if sent is not None:  # the attempt in flight is ``cut``
                add(self._row(inst, gid, ready, Reply(0, CUT, sent, now()), attempt, trace))
            if last is not None:
                add(last)
            raise
        except Exception as exc:  # a defect outside a step's own handling: a row says so
            if last is not None:
                add(last)
            last, ok = self.failed_row(inst, gid, ready, exc), False
        if last is not None:
            add(with_flow_ns(last, last[DONE] - inst.intended_ns))
        return ok

    def failed_row(self, inst: Instance, gid: int, ready: int, exc: BaseException) -> tuple:
        """The ``internal`` row of step ``gid`` of ``inst`` that ``exc`` ended."""
        now = self.clock.monotonic_ns()
        return self._row(inst, gid, ready, Reply(0, INTERNAL, now, now, detail=error_detail(exc)), 1, 0)

    def _outcome(
        self, step: Step, gid: int, inst: Instance, ready: int, reply: Reply, attempt: int, trace: int
    ) -> tuple[tuple, str | None, str | None, dict | None]:
        """(row, error, error kind, variables extracted) of one attempt."""
        if reply.response is None or reply.error is not None:
            error, kind, detail, found = reply.error, reply.error, reply.detail, None
        else:
            error, kind, detail, found = _judge(step, reply)
        if reply.marks and self.chunks is not None:
            self.chunks.add(inst.flow_id, gid, attempt, reply.sent_ns, reply.marks)
        return self._row(inst, gid, ready, reply, attempt, trace, error, detail), error, kind, found

    def _render(self, step: Step, gid: int, inst: Instance, trace: int, span: int) -> StepRequest | Reply:
        """The request of this attempt, or a ``template`` reply when it cannot be built."""
        untraced = self._untraced[gid]
        if untraced is not None:
            return untraced
        out = self.fixed[gid]
        fixed = out is not None
        if out is None:
            inst.variables["now"] = self.clock.wall_ns() // 1_000_000
            try:
                out = render(step, self.base_url, self.headers, inst.variables, self.rng)
            except Exception as exc:  # MissingVariable; anything else is a defect
                now = self.clock.monotonic_ns()
                if isinstance(exc, MissingVariable):
                    return Reply(0, TEMPLATE, now, now, detail=error_detail(exc))
                return Reply(0, INTERNAL, now, now, detail=error_detail(exc, f"rendering {step.name}"))
        traces = self.traces
        return StepRequest(out, traces.value(trace, span) if trace and traces is not None else None, fixed)

    @staticmethod
    def _row(
        inst: Instance, gid: int, ready: int, reply: Reply, attempt: int, trace: int, error: Any = False, detail=None
    ) -> tuple:
        """One attempt's row (a :data:`~loadray.engine.row_buffer.FLOW_ROW`)."""
        if error is False:
            error, detail = reply.error, reply.detail
        return (
            ready, reply.sent_ns, reply.done_ns, reply.status, error, gid, inst.phase, reply.nbytes, trace,
            attempt, inst.user, inst.flow_id, detail, reply.ttfb_ns, reply.chunks, None,
        )

    def record(self, row: tuple, flow_ns: int | None = None) -> None:
        self._add(row if flow_ns is None else with_flow_ns(row, flow_ns))


def render(step: Step, base_url: str, headers: tuple[tuple[str, str], ...], values: dict, rng: random.Random) -> Any:
    """``step`` rendered: a :class:`Rendered` HTTP request or a gRPC call."""
    if step.grpc is not None:
        return render_grpc(step, values, rng)
    return render_step(step, base_url, headers, values, rng)


def _judge(step: Step, reply: Reply) -> tuple[str | None, str | None, str | None, dict | None]:
    """(error, error kind, detail, variables found) of a response that arrived: the
    first failed check, a check or an extraction that raised, or the extracted values."""
    response = reply.response
    assert response is not None  # judged only when a response arrived
    try:
        if step.checks:
            failed = evaluate(step.checks, response)
            if failed is not None:
                return f"{CHECK}:{failed}", CHECK, None, None
        return None, None, None, extract_all(step.extract, response) if step.extract else None
    except CheckError as exc:
        return CHECK_ERROR, CHECK_ERROR, error_detail(exc.cause, exc.name), None
    except ExtractError as exc:
        return EXTRACT, EXTRACT, error_detail(exc.cause, exc.name), None
    except Exception as exc:
        return INTERNAL, INTERNAL, error_detail(exc), None

