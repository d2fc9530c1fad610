"""The only package that imports ray: runtime (join/start Ray), the worker actor and
the launcher."""

from loadray.cluster.launcher import Launcher
from loadray.cluster.runtime import RaySession, connect

__all__ = ["Launcher", "RaySession", "connect"]
