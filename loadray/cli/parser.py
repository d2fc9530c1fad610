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


def _version() -> str:
    from loadray import __version__

    return f"loadray {__version__}"


def _verb(verbs, name: str, help: str) -> argparse.ArgumentParser:
    from loadray.cli.help_texts import DESCRIPTIONS, EPILOGS

    return verbs.add_parser(name, help=help, description=DESCRIPTIONS[name], epilog=EPILOGS[name],
                            formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    from loadray.cli.help_texts import MAIN_EPILOG

    parser = OneLineParser(prog="loadray", description="HTTP load testing on Ray",
                           epilog=MAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=OneLineParser, metavar="VERB")
    _run_parser(_verb(verbs, "run", "run a scenario and archive it"))
    _validate_parser(_verb(verbs, "validate", "check a scenario without running it"))
    _report_parser(_verb(verbs, "report", "rebuild summary.json and report.html from a run directory"))
    _compare_parser(_verb(verbs, "compare", "compare two runs; exit 99 when the new one regressed"))
    _export_parser(_verb(verbs, "export", "the rows of a run as CSV or JSON lines"))
    _control_parser(_verb(verbs, "control", "change a running test: rate, pause, resume, stop"))
    _submit_parser(_verb(verbs, "submit", "run a scenario on a Ray cluster as a Ray job; the run directory comes here"))
    _target_parser(_verb(verbs, "target", "serve the built-in test target on 127.0.0.1"))
    return parser


def _scenario_inputs(verb: argparse.ArgumentParser) -> None:
    verb.add_argument("scenario", metavar="SCENARIO", type=Path, help="the scenario file (YAML)")
    verb.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                      help="override a scenario value, e.g. load.phases.0.rate=800 (repeatable)")
    verb.add_argument("--env-file", dest="env_files", metavar="FILE", type=Path, action="append", default=[],
                      help="read ${VAR} values from this dotenv file (NAME=VALUE lines; repeatable; "
                           "the process environment wins)")


def _ci_outputs(verb: argparse.ArgumentParser) -> None:
    verb.add_argument("--summary", metavar="PATH", help="also write summary.json here; '-': to stdout "
                      "(then stdout holds only that JSON, and the live view is off)")
    verb.add_argument("--junit", metavar="PATH", type=Path,
                      help="write a JUnit XML file: one test case per threshold, with its measured value")


def _run_parser(run: argparse.ArgumentParser) -> None:
    from loadray.preflight import MODES

    _scenario_inputs(run)
    run.add_argument("--out", metavar="RUN_DIR", type=Path,
                     help="the run's own directory, created by the run (default runs/<UTC time>-<name>/)")
    run.add_argument("--address", metavar="ADDR",
                     help="join this Ray cluster, host:port of its head (default: an embedded local Ray; "
                          "unreachable: exit 1 within 30 s)")
    run.add_argument("--quiet", action="store_true", help="no live view: print only the final summary")
    run.add_argument("--preflight", choices=MODES, default="warn",
                     help="connect to each target before the load starts: warn when one cannot be reached "
                          "(default), refuse to start (strict, exit 1), or do not check (off)")
    run.add_argument("--metrics-port", metavar="P", type=int,
                     help="serve Prometheus /metrics on this port (0: a free one)")
    run.add_argument("--metrics-host", metavar="HOST", default="127.0.0.1",
                     help="bind /metrics here (default 127.0.0.1)")
    run.add_argument("--metrics-linger", metavar="S", type=_seconds, default=15.0,
                     help="after the run, keep /metrics up until it is scraped once, at most S seconds (default 15)")
    _ci_outputs(run)


def _validate_parser(validate: argparse.ArgumentParser) -> None:
    _scenario_inputs(validate)


def _report_parser(report: argparse.ArgumentParser) -> None:
    report.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run directory (loadray run --out)")
    _ci_outputs(report)


def _compare_parser(compare: argparse.ArgumentParser) -> None:
    compare.add_argument("base", metavar="BASE_RUN", type=Path, help="the run directory to compare against")
    compare.add_argument("new", metavar="NEW_RUN", type=Path, help="the run directory under test")
    compare.add_argument("--max-p99-increase", metavar="PCT", type=_gate_limit,
                         help="fail when p99 latency grew by more than this (default 10%%; 'off' disables)")
    compare.add_argument("--max-error-rate-increase", metavar="PCT", type=_gate_limit,
                         help="fail when the error rate grew by more than this many points (default 1%%; 'off')")
    compare.add_argument("--html", metavar="OUT.html", type=Path, help="also write an HTML comparison page")


def _export_parser(export: argparse.ArgumentParser) -> None:
    from loadray.export import FORMATS

    export.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run directory (loadray run --out)")
    export.add_argument("--format", choices=FORMATS, required=True, help="csv (with a header line) or jsonl")
    export.add_argument("--columns", metavar="A,B,...", help="only these columns, in this order (default: all)")
    export.add_argument("--out", metavar="PATH", type=Path, help="write here (default: stdout)")


def _control_parser(control: argparse.ArgumentParser) -> None:
    control.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                         help="the running test's directory (loadray run prints it when it starts)")
    action = control.add_mutually_exclusive_group(required=True)
    action.add_argument("--rate", metavar="R", type=_rate,
                        help="new cluster-wide rate, req/s (users in the closed model)")
    action.add_argument("--pause", action="store_true", help="stop sending until --resume")
    action.add_argument("--resume", action="store_true", help="send again after --pause")
    action.add_argument("--stop", action="store_true", help="end the run now (it is archived as usual)")


def _target_parser(target: argparse.ArgumentParser) -> None:
    from loadray.target import add_target_arguments

    add_target_arguments(target)


def _submit_parser(submit: argparse.ArgumentParser) -> None:
    from loadray.cli.job_protocol import DEFAULT_FETCH_LIMIT

    _scenario_inputs(submit)
    submit.add_argument("--address", metavar="URL", required=True,
                        help="the cluster's job server (its dashboard), e.g. http://HEAD:8265")
    submit.add_argument("--out", metavar="RUN_DIR",
                        help="the run's directory here (created), or a storage URI the job writes it to "
                             "(s3://bucket/prefix/run: nothing comes through the log)")
    submit.add_argument("--quiet", action="store_true", help="print only the final summary")
    submit.add_argument("--fetch-limit", metavar="SIZE", type=_size, default=DEFAULT_FETCH_LIMIT,
                        help="bring samples/ back when the run directory's archive is at most this (default 100MiB)")
