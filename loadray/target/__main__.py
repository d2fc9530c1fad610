"""``python -m loadray.target``: run the built-in target until SIGINT/SIGTERM.

    python -m loadray.target --port 8080 --latency 20ms --jitter 5ms --error-rate 1% \\
        --stall-every 5s --stall-for 500ms --seed 0

prints exactly one line, ``loadray target listening on http://127.0.0.1:PORT``, then
serves. A bad flag prints one line naming it on stderr and exits 2.

The flag set is shared with ``loadray target``: :func:`add_target_arguments` adds the
flags (as plain strings) to any argparse parser; :func:`options_from_args` turns the
namespace into :class:`TargetOptions` or raises :class:`UsageError` naming the flag;
:func:`target_argv` is the inverse (used to spawn the child process).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import NoReturn

from loadray.errors import EXIT_OK, EXIT_USAGE, LoadrayError, UsageError
from loadray.target.faults import validate_options
from loadray.target.options import LOOPBACK, TargetOptions
from loadray.units import parse_duration, parse_fraction

__all__ = [
    "DEFAULT_PORT",
    "READY_PREFIX",
    "add_target_arguments",
    "options_from_args",
    "target_argv",
    "main",
]

DEFAULT_PORT = 8080
READY_PREFIX = "loadray target listening on "
GRPC_READY_PREFIX = "loadray grpc target listening on "  # the second line, with --grpc-port
PROG = "loadray target"

# flag -> (namespace dest, TargetOptions field)
_DURATION_FLAGS = {
    "--latency": ("latency", "latency_s"),
    "--jitter": ("jitter", "jitter_s"),
    "--stall-every": ("stall_every", "stall_every_s"),
    "--stall-for": ("stall_for", "stall_for_s"),
}
_FIELD_TO_FLAG = {field: flag for flag, (_, field) in _DURATION_FLAGS.items()}
_FIELD_TO_FLAG.update({"port": "--port", "error_rate": "--error-rate", "seed": "--seed", "host": "--host",
                       "grpc_port": "--grpc-port"})


def add_target_arguments(parser: argparse.ArgumentParser, *, default_port: int = DEFAULT_PORT) -> None:
    """Add the target's flags. Values stay strings; :func:`options_from_args` parses them."""
    parser.add_argument(
        "--port", default=str(default_port), metavar="PORT",
        help=f"port on the --host address, 0 for a free one (default {default_port})",
    )
    parser.add_argument(
        "--host", default=LOOPBACK, metavar="ADDR",
        help=f"address to listen on (default {LOOPBACK}; never 0.0.0.0 unless you mean it)",
    )
    parser.add_argument("--grpc-port", default=None, metavar="PORT",
                        help="also serve the gRPC target (unary, streaming) on this port, 0 for a free one")
    parser.add_argument("--latency", default="0s", metavar="DUR",
                        help="every response waits this long, e.g. 20ms (default 0s)")
    parser.add_argument("--jitter", default="0s", metavar="DUR",
                        help="plus uniform(0, DUR) (default 0s)")
    parser.add_argument("--error-rate", default="0%", metavar="PCT",
                        help="fraction of responses answered 500, e.g. 1%% (default 0%%)")
    parser.add_argument("--stall-every", default="0s", metavar="DUR",
                        help="a stall window begins every DUR since start (default: no stalls)")
    parser.add_argument("--stall-for", default="0s", metavar="DUR",
                        help="each stall lasts DUR; responses due in it wait until it ends")
    parser.add_argument("--seed", default="0", metavar="N",
                        help="seed of the jitter and error draws (default 0)")


def _int_flag(flag: str, value: object) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise UsageError(f"{flag}: expected an integer, got {value!r}") from None


def options_from_args(ns: argparse.Namespace) -> TargetOptions:
    """The namespace of :func:`add_target_arguments` as options; ``UsageError`` names the flag."""
    values: dict[str, object] = {}
    for flag, (dest, field) in _DURATION_FLAGS.items():
        try:
            values[field] = parse_duration(getattr(ns, dest))
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from None
    try:
        values["error_rate"] = parse_fraction(ns.error_rate)
    except ValueError as exc:
        raise UsageError(f"--error-rate: {exc}") from None
    values["port"] = _int_flag("--port", ns.port)
    values["seed"] = _int_flag("--seed", ns.seed)
    values["host"] = str(ns.host).strip()
    grpc_port = getattr(ns, "grpc_port", None)
    values["grpc_port"] = None if grpc_port is None else _int_flag("--grpc-port", grpc_port)
    options = TargetOptions(**values)  # type: ignore[arg-type]
    try:
        validate_options(options)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        flag = _FIELD_TO_FLAG.get(field, field)
        message = message.replace("stall_every_s", "--stall-every")
        raise UsageError(f"{flag}: {message}") from None
    return options


def _duration_arg(seconds: float) -> str:
    # Plain decimal digits of the shortest repr: exact round trip, no exponent
    # (parse_duration takes no "1e-05"; format_duration rounds for humans).
    return f"{format(Decimal(repr(float(seconds))), 'f')}s"


def target_argv(options: TargetOptions) -> list[str]:
    """The flags that reproduce ``options`` (inverse of :func:`options_from_args`)."""
    return [
        "--port", str(options.port),
        "--latency", _duration_arg(options.latency_s),
        "--jitter", _duration_arg(options.jitter_s),
        "--error-rate", repr(float(options.error_rate)),
        "--stall-every", _duration_arg(options.stall_every_s),
        "--stall-for", _duration_arg(options.stall_for_s),
        "--seed", str(options.seed),
        "--host", options.host,
        *(("--grpc-port", str(options.grpc_port)) if options.grpc_port is not None else ()),
    ]


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one line (no usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _OneLineParser(
        prog=PROG,
        description="Serve the built-in loadray test target on 127.0.0.1 until SIGINT/SIGTERM.",
    )
    add_target_arguments(parser)
    # Used by start_target(): stop when the parent's pipe closes, so no orphan survives it.
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    try:
        options = options_from_args(ns)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.exit_code

    def ready(url: str) -> None:
        print(f"{READY_PREFIX}{url}", flush=True)

    def grpc_ready(address: str) -> None:  # after the HTTP line: start_target reads that first
        print(f"{GRPC_READY_PREFIX}{address}", flush=True)

    from loadray.target.serving import serve  # aiohttp is imported only when serving

    try:
        serve(options, ready, exit_on_stdin_eof=ns.exit_on_stdin_eof, grpc_ready=grpc_ready)
    except LoadrayError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # SIGINT before the handlers were installed
        return EXIT_OK
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
