"""Shared fixtures: one local Ray per session (2 CPUs), and the built-in target."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture
def builtin_target():
    """Factory: start the built-in target with options; stopped (by PID) after the test."""
    from loadray.target import start_target
    from loadray.target.options import TargetOptions

    started = []

    def start(**options):
        handle = start_target(TargetOptions(**options))
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()
