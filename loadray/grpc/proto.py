"""Protocol buffer definitions of gRPC steps: a ``.proto`` compiled at validation.

:func:`compile_proto` runs grpcio-tools' protoc (in a child process, so its error
lines are captured) and returns the serialized ``FileDescriptorSet`` with every
import: plain bytes, which a frozen scenario carries to the workers. There,
:func:`pool_of` turns the bytes into a descriptor pool once per process, and
:func:`find_method` / :func:`message_class` look up what a call sends.

No generated ``_pb2`` modules: the message classes are built from the descriptors.
"""

from __future__ import annotations

import importlib.resources
import os
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor, ServiceDescriptor

__all__ = ["ProtoError", "compile_proto", "find_method", "find_service", "message_class", "pool_of"]

PROTOC_TIMEOUT_S = 60.0


class ProtoError(Exception):
    """A ``.proto`` that cannot be read or compiled, or a name it does not define."""


def _includes() -> str:
    """The folder of the well-known types (``google/protobuf/*.proto``) grpcio-tools ships."""
    return str(importlib.resources.files("grpc_tools") / "_proto")


PROTOSET_SUFFIXES = (".protoset", ".pb")  # a compiled FileDescriptorSet (protoc -o, ghz --protoset)


def compile_proto(file: str | os.PathLike[str]) -> bytes:
    """The ``FileDescriptorSet`` (with imports) of ``file``; imports are found next to it.
    A ``.protoset``/``.pb`` file is such a set already, read as it is. Raises
    :class:`ProtoError` with protoc's first error line."""
    path = Path(file)
    if not path.is_file():
        raise ProtoError(f"no such file: {os.fspath(file)}")
    if path.suffix in PROTOSET_SUFFIXES:
        return _protoset(path)
    stat = path.stat()
    return _compiled(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=64)
def _compiled(path: str, _mtime_ns: int, _size: int) -> bytes:
    """One protoc run per file version (a scenario may name the same file in many steps)."""
    folder = os.path.dirname(path)
    with tempfile.TemporaryDirectory(prefix="loadray-proto-") as tmp:
        out = os.path.join(tmp, "set.pb")
        cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{folder}", f"-I{_includes()}",
               "--include_imports", f"--descriptor_set_out={out}", path]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=PROTOC_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProtoError(f"protoc failed: {exc}") from None
        if done.returncode != 0:
            lines = [ln.strip() for ln in done.stderr.decode(errors="replace").splitlines() if ln.strip()]
            first = lines[0] if lines else f"protoc exited with {done.returncode}"
            raise ProtoError(f"does not compile: {first.replace(folder + os.sep, '')}")
        with open(out, "rb") as f:
            return f.read()


def _protoset(path: Path) -> bytes:
    data = path.read_bytes()
    try:
        pool_of(data)
    except Exception as exc:  # DecodeError, TypeError of a broken set: anything protobuf raises
        raise ProtoError(f"not a compiled FileDescriptorSet: {type(exc).__name__}: {exc}"[:200]) from None
    return data


@lru_cache(maxsize=32)
def pool_of(data: bytes) -> descriptor_pool.DescriptorPool:
    """A descriptor pool of a serialized ``FileDescriptorSet`` (one per set and process)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(data)
    pool = descriptor_pool.DescriptorPool()
    for proto in files.file:  # protoc lists dependencies before their dependents
        pool.Add(proto)
    return pool


def service_names(data: bytes) -> list[str]:
    files = descriptor_pb2.FileDescriptorSet.FromString(data)
    return sorted(f"{f.package}.{s.name}" if f.package else s.name for f in files.file for s in f.service)


def find_service(data: bytes, service: str) -> ServiceDescriptor:
    try:
        return pool_of(data).FindServiceByName(service)
    except KeyError:
        known = ", ".join(service_names(data)) or "none"
        raise ProtoError(f"no service {service!r} in the proto (services: {known})") from None


def find_method(data: bytes, service: str, method: str) -> MethodDescriptor:
    found = find_service(data, service)
    match = found.methods_by_name.get(method)
    if match is None:
        known = ", ".join(sorted(found.methods_by_name)) or "none"
        raise ProtoError(f"service {service!r} has no method {method!r} (methods: {known})")
    return match


@lru_cache(maxsize=256)
def message_class(descriptor: Descriptor) -> Any:
    """The message class of ``descriptor`` (built once)."""
    return message_factory.GetMessageClass(descriptor)
