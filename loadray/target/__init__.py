"""The built-in test target: an aiohttp.web server on 127.0.0.1 with fault injection.

    from loadray.target import TargetOptions, start_target

    with start_target(TargetOptions(latency_s=0.02, error_rate=0.01)) as target:
        ...  # send load to target.url
        print(target.stats()["per_second"])

Names are imported lazily: ``import loadray.target`` (as the scenario does for
:class:`TargetOptions`) does not import aiohttp; only the server module does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loadray._lazy import lazy_exports
from loadray.target.options import LOOPBACK, TargetOptions

__all__ = [
    "LOOPBACK",
    "TargetOptions",
    "TargetProcess",
    "start_target",
    "TargetServer",
    "TargetStats",
    "serve",
    "FlowEndpoints",
    "FaultModel",
    "Decision",
    "stall_release",
    "validate_options",
    "add_target_arguments",
    "options_from_args",
    "target_argv",
]

_LAZY = {
    "TargetProcess": "loadray.target.process",
    "start_target": "loadray.target.process",
    "TargetServer": "loadray.target.server",
    "TargetStats": "loadray.target.server",
    "serve": "loadray.target.serving",
    "FlowEndpoints": "loadray.target.flows",
    "FaultModel": "loadray.target.faults",
    "Decision": "loadray.target.faults",
    "stall_release": "loadray.target.faults",
    "validate_options": "loadray.target.faults",
    "add_target_arguments": "loadray.target.__main__",
    "options_from_args": "loadray.target.__main__",
    "target_argv": "loadray.target.__main__",
}

if TYPE_CHECKING:  # pragma: no cover
    from loadray.target.__main__ import add_target_arguments, options_from_args, target_argv
    from loadray.target.faults import Decision, FaultModel, stall_release, validate_options
    from loadray.target.flows import FlowEndpoints
    from loadray.target.process import TargetProcess, start_target
    from loadray.target.server import TargetServer, TargetStats
    from loadray.target.serving import serve


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
