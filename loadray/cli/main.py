"""``loadray`` console entry point: parse -> options -> one library call -> exit code."""

from __future__ import annotations

import os
import sys
import traceback

from loadray.cli.parser import build_parser
from loadray.errors import EXIT_FAILURE, EXIT_OK, EXIT_SIGINT, LoadrayError


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = VERBS[args.verb](args)
    except LoadrayError as exc:
        print(f"loadray {args.verb}: error: {exc}", file=sys.stderr)
        code = exc.exit_code
    except KeyboardInterrupt:
        print(f"loadray {args.verb}: interrupted", file=sys.stderr)
        code = EXIT_SIGINT
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("LOADRAY_DEBUG"):
            traceback.print_exc()
        print(f"loadray {args.verb}: internal error: {type(exc).__name__}: {exc} "
              "(set LOADRAY_DEBUG=1 for the traceback)", file=sys.stderr)
        code = EXIT_FAILURE
    sys.exit(code)


def _run(args) -> int:
    from loadray.driver import RunOptions, run
    from loadray.report.text import render_summary
    from loadray.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    result = run(scenario, RunOptions(out=args.out, address=args.address, quiet=args.quiet))
    print(render_summary(result.summary))
    print(f"run directory: {result.run_dir}  (report: {result.run_dir / 'report.html'})")
    return result.exit_code


def _report(args) -> int:
    from loadray.report.build import rebuild
    from loadray.report.text import render_summary

    summary = rebuild(args.run_dir)
    print(render_summary(summary))
    print(f"wrote {args.run_dir / 'summary.json'} and {args.run_dir / 'report.html'}")
    return EXIT_OK


def _validate(args) -> int:
    from loadray.plan import Profile
    from loadray.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    profile = Profile(scenario.phases)
    print(
        f"{args.scenario}: ok — {scenario.name}: {scenario.workers} workers, "
        f"{len(scenario.phases)} phases over {profile.duration_s:g}s, "
        f"{profile.intended} intended requests"
    )
    return EXIT_OK


def _target(args) -> int:
    from loadray.target import options_from_args, serve

    serve(options_from_args(args), ready=lambda url: print(f"loadray target listening on {url}", flush=True))
    return EXIT_OK


VERBS = {"run": _run, "report": _report, "validate": _validate, "target": _target}
