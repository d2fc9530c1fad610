"""A gRPC step: the ``grpc:`` block of a step (or ``requests:`` entry).

::

    - name: hello
      grpc:
        proto: protos/greeter.proto        # compiled now (grpcio-tools); imports beside it
        # reflection: true                 # or: ask the server at grpc.address, now
        service: helloworld.Greeter         # package.Service
        method: SayHello                    # unary or server-streaming
        message: {name: "{{ user }}"}       # JSON of the request type; string leaves are templates
        metadata: {authorization: "Bearer {{ token }}"}
        address: 127.0.0.1:50051            # plaintext; grpcs://host:port: TLS; default: the target's
        channels: 1                         # HTTP/2 channels per worker to this address
      timeout: 2s                           # the call's deadline (default http.timeout)
      check: {status: OK, json: {expr: message, equals: "hi"}}
      extract: {name: reply, source: json, expr: message}

Every mistake names its YAML path: a missing or broken ``.proto``, an unknown service or
method, a message field the request type lacks or a literal of the wrong type, a
client-streaming method, a reserved metadata key, an HTTP key (``path``, ``json``...)
on a gRPC step. Checks: ``status`` takes gRPC code names or numbers; ``json`` and
``body_contains`` read the response as JSON (a streaming call: the list of messages).
Extraction: ``json``/``regex`` over that JSON, ``header`` reads the response metadata.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import Fields, boolean, integer, key_path, show, string
from loadray.flow.json_templates import compile_json, template_leaves
from loadray.flow.templates import Template, compile_template
from loadray.grpc.call import DEFAULT_CHANNELS, GrpcCall
from loadray.grpc.proto import ProtoError, compile_proto, find_method
from loadray.grpc.reflection import reflected_protos
from loadray.scenario.grpc_messages import check_message
from loadray.scenario.http_settings import headers
from loadray.scenario.model import Body

GRPC_KEYS = ("proto", "reflection", "service", "method", "message", "metadata", "address", "channels")
HTTP_ONLY = ("method", "path", "query", "json", "form", "body")
MAX_CHANNELS = 64
RESERVED_METADATA = ("content-type", "te", "host", "user-agent", "connection")
_METADATA_KEY = re.compile(r"[0-9a-z_.-]+")
_ADDRESS = re.compile(r"(?:(grpcs?)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})")

Templates = tuple[tuple[str, Template], ...]


@dataclass(frozen=True)
class GrpcRequest:
    """The parts of a :class:`~loadray.scenario.model.Step` a ``grpc:`` block gives."""

    call: GrpcCall
    path: Template
    headers: tuple[tuple[str, Template], ...]
    body: Body
    templates: Templates


def grpc_request(fields: Fields, folder: str) -> GrpcRequest:
    """The step in ``fields`` (which has a ``grpc`` key) as a gRPC call."""
    for key in HTTP_ONLY:
        if key in fields:
            raise ScenarioError(fields.path_of(key), "is an HTTP key: a gRPC step sends grpc.message to grpc.method")
    block = Fields(fields.value["grpc"], fields.path_of("grpc"), GRPC_KEYS)
    service = block.get("service", string)
    scheme, address = block.get("address", _address, (None, None))
    protos = _definitions(block, folder, service, address, scheme == "grpcs")
    method_name = block.get("method", string)
    try:
        method = find_method(protos, service, method_name)
    except ProtoError as exc:
        bad = "service" if "no service" in str(exc) else "method"
        raise ScenarioError(block.path_of(bad), str(exc)) from None
    if method.client_streaming:
        raise ScenarioError(block.path_of("method"), f"{service}/{method_name} is client-streaming: "
                            "only unary and server-streaming methods are supported")
    where = block.path_of("message")
    tree = compile_json(block.value.get("message") or {}, where)
    check_message(tree.value, method.input_type, where)
    metadata = block.get("metadata", _metadata, ())
    call = GrpcCall(
        address=address, service=service, method=method_name, streaming=method.server_streaming,
        protos=protos, tls=None if scheme is None else scheme == "grpcs",
        channels=block.get("channels", integer(ge=1, le=MAX_CHANNELS), DEFAULT_CHANNELS),
    )
    templates = (
        *((key_path(block.path_of("metadata"), name), t) for name, t in metadata),
        *template_leaves(tree.value, where),
    )
    return GrpcRequest(call, compile_template(call.path, ""), metadata, Body("json", tree), templates)


def _definitions(block: Fields, folder: str, service: str, address: str | None, tls: bool) -> bytes:
    """The protos of ``proto`` (a file) or of ``reflection: true`` (asked of the server)."""
    if "proto" in block and block.value.get("reflection"):
        raise ScenarioError(block.path_of("reflection"), "give either proto or reflection: true, not both")
    if not block.get("reflection", boolean, False):
        return block.get("proto", lambda v, p: _protos(v, p, folder))
    if address is None:
        raise ScenarioError(block.path_of("reflection"), "needs grpc.address: the server to ask for its protos")
    try:
        return reflected_protos(address, tls, service)
    except ProtoError as exc:
        raise ScenarioError(block.path_of("reflection"), str(exc)) from None


def _protos(value: Any, path: str, folder: str) -> bytes:
    name = string(value, path)
    file = name if os.path.isabs(name) else os.path.join(folder, name)
    try:
        return compile_proto(file)
    except ProtoError as exc:
        raise ScenarioError(path, str(exc)) from None


def _metadata(value: Any, path: str) -> tuple[tuple[str, Template], ...]:
    result = []
    for name, text in headers(value, path):
        where = key_path(path, name)
        lower = name.lower()
        if not _METADATA_KEY.fullmatch(lower):
            raise ScenarioError(where, f"not a valid gRPC metadata key: {show(name)}")
        if lower in RESERVED_METADATA or lower.startswith("grpc-") or lower.startswith(":"):
            raise ScenarioError(where, f"{lower!r} is reserved by gRPC; choose another metadata key")
        if lower.endswith("-bin"):
            raise ScenarioError(where, "binary (-bin) metadata is not supported; send it as text")
        result.append((lower, compile_template(text, where)))
    return tuple(result)


def _address(value: Any, path: str) -> tuple[str | None, str]:
    """``host:port``, ``grpc://host:port`` or ``grpcs://host:port`` -> (scheme, host:port)."""
    text = string(value, path).strip()
    match = _ADDRESS.fullmatch(text)
    if match is None or not 0 < int(match.group(3)) <= 65535:
        raise ScenarioError(path, f"must be host:port, grpc://host:port or grpcs://host:port, got {show(value)}")
    return match.group(1), f"{match.group(2)}:{int(match.group(3))}"


def check_grpc_tls(steps: Any, target_url: str | None, verify: bool) -> None:
    """grpcio always verifies a TLS server's certificate: ``http.tls.verify: false``
    with a gRPC call over TLS is refused (trust a private CA with ``http.tls.ca``)."""
    if verify:
        return
    for step in steps:
        call = step.grpc
        if call is None:
            continue
        tls = call.tls if call.address is not None else (target_url or "").lower().startswith("https://")
        if tls:
            raise ScenarioError("http.tls.verify", f"step {step.name!r} calls gRPC over TLS, which always verifies "
                                "the server certificate: trust its CA with http.tls.ca instead")
