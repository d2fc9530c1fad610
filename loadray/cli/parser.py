"""The argparse front: every verb and flag, and one-line usage errors (exit 2)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loadray.errors import EXIT_USAGE


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr and exit code 2, never the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _gate_limit(text: str) -> float | str:
    """A regression-gate limit: ``10%`` -> 0.1, or ``off``."""
    from loadray.units import parse_fraction

    if text.strip().lower() == "off":
        return "off"
    try:
        value = parse_fraction(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _seconds(text: str) -> float:
    """A finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _rate(text: str) -> float:
    """``--rate``: a finite number >= 0 (the run checks its own upper bound)."""
    from loadray.live.control import RateBounds, check_rate

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    try:
        return check_rate(value, RateBounds(max_rate=float("inf")))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _size(text: str) -> int:
    """``--fetch-limit``: a size like ``100MiB`` (bytes when bare)."""
    from loadray.units import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    from loadray.target import add_target_arguments

    parser = OneLineParser(prog="loadray", description="HTTP load testing on Ray")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=OneLineParser)

    run = verbs.add_parser("run", help="run a scenario and archive it")
    run.add_argument("scenario", metavar="SCENARIO", type=Path)
    run.add_argument("--out", metavar="RUN_DIR", type=Path, help="the run's own directory (created)")
    run.add_argument("--address", metavar="ADDR", help="join this Ray cluster (default: embedded local Ray)")
    run.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                     help="override a scenario value, e.g. load.phases.0.rate=800")
    run.add_argument("--quiet", action="store_true", help="print only the final summary")
    run.add_argument("--metrics-port", metavar="P", type=int, help="serve Prometheus /metrics on this port")
    run.add_argument("--metrics-host", metavar="HOST", default="127.0.0.1", help="bind /metrics here (default 127.0.0.1)")
    run.add_argument("--metrics-linger", metavar="S", type=_seconds, default=15.0,
                     help="after the run, keep /metrics up until it is scraped once, at most S seconds (default 15)")

    _add_submit(verbs)

    control = verbs.add_parser("control", help="change a running test: rate, pause, resume, stop")
    control.add_argument("run_dir", metavar="RUN_DIR", type=Path)
    action = control.add_mutually_exclusive_group(required=True)
    action.add_argument("--rate", metavar="R", type=_rate,
                        help="new cluster-wide rate, req/s (users in the closed model)")
    action.add_argument("--pause", action="store_true")
    action.add_argument("--resume", action="store_true")
    action.add_argument("--stop", action="store_true")

    report = verbs.add_parser("report", help="rebuild summary.json and report.html from a run directory")
    report.add_argument("run_dir", metavar="RUN_DIR", type=Path)

    compare = verbs.add_parser("compare", help="compare two runs; exit 99 when the new one regressed")
    compare.add_argument("base", metavar="BASE_RUN", type=Path)
    compare.add_argument("new", metavar="NEW_RUN", type=Path)
    compare.add_argument("--max-p99-increase", metavar="PCT", type=_gate_limit,
                         help="fail when p99 latency grew by more than this (default 10%%; 'off' disables)")
    compare.add_argument("--max-error-rate-increase", metavar="PCT", type=_gate_limit,
                         help="fail when the error rate grew by more than this many points (default 1%%; 'off')")
    compare.add_argument("--html", metavar="OUT.html", type=Path, help="also write an HTML comparison page")

    validate = verbs.add_parser("validate", help="check a scenario without running it")
    validate.add_argument("scenario", metavar="SCENARIO", type=Path)
    validate.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[])

    target = verbs.add_parser("target", help="serve the built-in test target on 127.0.0.1")
    add_target_arguments(target)
    return parser


def _add_submit(verbs) -> None:
    from loadray.cli.job_protocol import DEFAULT_FETCH_LIMIT

    submit = verbs.add_parser("submit", help="run a scenario on a Ray cluster as a Ray job; the run directory comes here")
    submit.add_argument("scenario", metavar="SCENARIO", type=Path)
    submit.add_argument("--address", metavar="URL", required=True,
                        help="the cluster's job server (its dashboard), e.g. http://HEAD:8265")
    submit.add_argument("--out", metavar="RUN_DIR", type=Path, help="the run's directory here (created)")
    submit.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                        help="override a scenario value, e.g. load.phases.0.rate=800")
    submit.add_argument("--quiet", action="store_true", help="print only the final summary")
    submit.add_argument("--fetch-limit", metavar="SIZE", type=_size, default=DEFAULT_FETCH_LIMIT,
                        help="bring samples/ back when the run directory's archive is at most this (default 100MiB)")
