"""Options of the built-in target server (the ``loadray target`` flags and the
scenario's ``target: {builtin: {...}}``)."""

from __future__ import annotations

from dataclasses import dataclass

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class TargetOptions:
    port: int = 0  # 0: pick a free port
    latency_s: float = 0.0  # every response waits this long
    jitter_s: float = 0.0  # plus uniform(0, jitter_s)
    error_rate: float = 0.0  # fraction of responses answered 500
    stall_every_s: float = 0.0  # every N s since start, a stall window begins...
    stall_for_s: float = 0.0  # ...lasting this long; responses in it wait until it ends
    seed: int = 0
    host: str = LOOPBACK  # the address it listens on (a cluster run: the driver node's address)
    grpc_port: int | None = None  # also serve the gRPC target (loadray/target/grpc_server.py) here; 0: a free port
