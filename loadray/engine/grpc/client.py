"""The gRPC client of flow steps: unary and server-streaming calls on grpcio's asyncio
API, over the worker's pooled channels (:mod:`.channels`).

A call's row: ``status`` is the gRPC status code (0 = OK; see
:data:`loadray.kinds.GRPC_CODES`), ``error`` is ``grpc_<code>`` for any other code
(:data:`loadray.kinds.GRPC_KINDS`), ``error_detail`` the status details (redacted),
``bytes_in`` the serialized size of the messages received, ``ttfb_ns`` from send to
the first response message (a unary call: its one message, at the end), ``chunks`` the
messages received. A message that does not fit the request type is ``grpc_message``,
never sent. The step's ``timeout`` is the call's deadline (default ``http.timeout``).

Checks and extraction see a :class:`~loadray.flow.response.Response` whose status is
the code, headers the initial and trailing metadata, body the response as JSON (a
streaming call: the list of its messages), cut at ``keep`` bytes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from loadray.engine.clock import Clock
from loadray.engine.failures import error_detail, error_kind
from loadray.engine.flow_client import Reply
from loadray.engine.grpc.channels import ChannelPool, target_address
from loadray.engine.step_request import StepRequest
from loadray.engine.transport import TransportSettings
from loadray.flow.response import Response
from loadray.grpc.call import GrpcCall
from loadray.grpc.message import json_bytes, to_json, to_message
from loadray.grpc.proto import find_method, message_class
from loadray.grpc.render import GrpcRendered
from loadray.kinds import GRPC_KINDS, GRPC_MESSAGE
from loadray.redaction import redact_text

__all__ = ["GrpcClient"]


class _Method:
    """One call's multicallables (one per channel, taken in turn) and request class."""

    __slots__ = ("callables", "request", "streaming", "turn")

    def __init__(self, callables: list, request: Any, streaming: bool) -> None:
        self.callables = callables
        self.request = request
        self.streaming = streaming
        self.turn = 0

    def next(self) -> Any:
        self.turn = (self.turn + 1) % len(self.callables)
        return self.callables[self.turn]


class _Received:
    """What a call received: when its first message came, how many, their bytes, and
    the messages themselves when a check or an extraction reads them."""

    __slots__ = ("_now", "first", "count", "nbytes", "messages", "_keep")

    def __init__(self, now: Any, keep: bool) -> None:
        self._now = now
        self._keep = keep
        self.first: int | None = None
        self.count = self.nbytes = 0
        self.messages: list = []

    def add(self, message: Any) -> None:
        if self.first is None:
            self.first = self._now()
        self.count += 1
        self.nbytes += message.ByteSize()
        if self._keep:
            self.messages.append(message)

    def reply(self, code: int, sent: int, done: int, response: Response | None, detail: str | None) -> Reply:
        ttfb = None if self.first is None else self.first - sent
        return Reply(code, GRPC_KINDS[code], sent, done, self.nbytes, response, detail, ttfb, self.count)


class GrpcClient:
    def __init__(self, settings: TransportSettings, clock: Clock, base_url: str) -> None:
        self.settings = settings
        self._now = clock.monotonic_ns
        self._default = target_address(base_url)
        self._pool = ChannelPool(settings)
        self._methods: dict[int, _Method] = {}  # by id(GrpcCall): a step's call is one object
        self._fixed: dict[int, tuple[GrpcRendered, Any]] = {}  # a literal step's message, by id

    def send(self, out: GrpcRendered | StepRequest, keep: int | None) -> Any:
        return self._call(out, keep)

    async def _call(self, out: GrpcRendered | StepRequest, keep: int | None) -> Reply:
        rendered: GrpcRendered = out.base if isinstance(out, StepRequest) else out  # type: ignore[assignment]
        metadata = rendered.metadata
        if isinstance(out, StepRequest) and out.traceparent is not None:
            trace = out.traceparent
            metadata = (*metadata, ("traceparent", trace if isinstance(trace, str) else trace.decode("ascii")))
        method = self._method(rendered.call)
        try:
            request = self._message(rendered, method, isinstance(out, StepRequest) and out.fixed)
        except ValueError as exc:
            now = self._now()
            return Reply(0, GRPC_MESSAGE, now, now, detail=error_detail(exc))
        timeout = rendered.timeout_s if rendered.timeout_s is not None else self.settings.timeout_s
        sent = self._now()
        call = method.next()(request, timeout=timeout, metadata=metadata)
        got = _Received(self._now, keep is not None)
        try:
            if method.streaming:
                async for message in call:
                    got.add(message)
            else:
                got.add(await call)
        except asyncio.CancelledError:
            call.cancel()
            raise
        except grpc.aio.AioRpcError as exc:
            detail = redact_text(exc.details() or "")[:200] or None
            return got.reply(exc.code().value[0], sent, self._now(), None, detail)
        except Exception as exc:
            return Reply(0, error_kind(exc), sent, self._now(), detail=error_detail(exc))
        done = self._now()
        response = None if keep is None else await _response(call, got.messages, method.streaming, keep)
        return got.reply(0, sent, done, response, None)

    def _message(self, rendered: GrpcRendered, method: _Method, fixed: bool) -> Any:
        """The request message; a step without variables (``fixed``: the same rendered
        object every time) is built once (~10 us of JSON parsing less per call)."""
        if not fixed:
            return to_message(rendered.message, method.request)
        found = self._fixed.get(id(rendered))
        if found is None or found[0] is not rendered:
            found = self._fixed[id(rendered)] = (rendered, to_message(rendered.message, method.request))
        return found[1]

    def _method(self, call: GrpcCall) -> _Method:
        found = self._methods.get(id(call))
        if found is None:
            found = self._methods[id(call)] = self._new_method(call)
        return found

    def _new_method(self, call: GrpcCall) -> _Method:
        descriptor = find_method(call.protos, call.service, call.method)
        request, reply = message_class(descriptor.input_type), message_class(descriptor.output_type)
        # no address: the target's host, port and TLS; host:port: plaintext; grpcs://: TLS
        address, tls = (call.address, bool(call.tls)) if call.address is not None else self._default
        callables = []
        for index in range(call.channels):
            channel = self._pool.channel(address, tls, index)
            make = channel.unary_stream if call.streaming else channel.unary_unary
            callables.append(make(call.path, request_serializer=request.SerializeToString,
                                  response_deserializer=reply.FromString))
        return _Method(callables, request, call.streaming)

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        await self._pool.close()


async def _response(call: Any, got: list, streaming: bool, keep: int) -> Response:
    """What checks and extraction read: code 0, the metadata, the messages as JSON."""
    value = [to_json(m) for m in got] if streaming else to_json(got[0])
    body = json_bytes(value)
    metadata = {**dict(await call.initial_metadata() or ()), **dict(await call.trailing_metadata() or ())}
    response = Response(0, {k: v for k, v in metadata.items() if isinstance(v, str)}, body[:keep], {},
                        len(body) > keep)
    if len(body) <= keep:
        response.__dict__["json"] = value  # parsed already: the cached property's value
    return response
