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

    report = verbs.add_parser("report", help="rebuild summary.json and report.html from a run directory")
    report.add_argument("run_dir", metavar="RUN_DIR", type=Path)

    validate = verbs.add_parser("validate", help="check a scenario without running it")
    validate.add_argument("scenario", metavar="SCENARIO", type=Path)
    validate.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[])

    target = verbs.add_parser("target", help="serve the built-in test target on 127.0.0.1")
    add_target_arguments(target)
    return parser
