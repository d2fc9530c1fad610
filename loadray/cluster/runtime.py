"""Joining Ray: an embedded local Ray when no address is given, else an existing
cluster. Ray's token authentication is left as Ray configures it (an embedded Ray
makes and uses its own token; a cluster's token comes from RAY_AUTH_TOKEN,
RAY_AUTH_TOKEN_PATH or Ray's default token file)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import ray

from loadray.errors import ClusterError


@dataclass
class RaySession:
    owned: bool  # True when this process started (or joined) Ray and must shut it down
    address: str | None

    @property
    def node_address(self) -> str:
        """This (the driver's) node's address as the cluster reaches it."""
        return ray.util.get_node_ip_address()

    def close(self) -> None:
        if self.owned and ray.is_initialized():
            ray.shutdown()


def connect(address: str | None = None, num_cpus: int | None = None) -> RaySession:
    """Start an embedded Ray (``address`` None) or join the cluster at ``address``.

    Reuses a Ray already initialised in this process (tests, notebooks) and then
    leaves it running afterwards.
    """
    if ray.is_initialized():
        return RaySession(owned=False, address=address)
    common = dict(logging_level=logging.WARNING, configure_logging=True)
    try:
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **common)
    except Exception as exc:  # Ray raises many types; show one line
        where = f"--address {address}" if address else "embedded Ray"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterError(f"{where}: cannot start or join Ray: {first}") from exc
    return RaySession(owned=True, address=address)


def cluster_cpus() -> float:
    return float(ray.cluster_resources().get("CPU", 0.0))
