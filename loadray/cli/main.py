"""``loadray`` console entry point: parse -> options -> one library call -> exit code."""

from __future__ import annotations

import os
import signal
import sys
import traceback

from loadray.cli.outputs import check_outputs, environment, human_stream, write_outputs
from loadray.cli.parser import build_parser
from loadray.cli.preflight import check_out
from loadray.errors import EXIT_FAILURE, EXIT_OK, Interrupted, LoadrayError
from loadray.redaction import redact_error, redact_text

MAX_MESSAGE = 1000  # characters of an error line


def _sigterm(signum, frame) -> None:
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _sigterm)  # like SIGINT: one line, exit 143 (not death by signal)
    try:
        args = build_parser().parse_args(argv)
        code = _call(args)
    except (Interrupted, KeyboardInterrupt) as exc:  # before a verb started
        code = _interrupted("loadray", exc)
    sys.exit(code)


def _call(args) -> int:
    try:
        return VERBS[args.verb](args)
    except (Interrupted, KeyboardInterrupt) as exc:
        return _interrupted(f"loadray {args.verb}", exc)
    except LoadrayError as exc:  # errors echo what they reject: redacted, environment secrets too
        line = redact_error(str(exc), getattr(exc, "path", ""), getattr(args, "secrets", ()))
        print(f"loadray {args.verb}: error: {one_line(line)}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # a bug: one line, the traceback only on request
        from loadray.archive import is_disk_error

        secrets = getattr(args, "secrets", ())
        if isinstance(exc, OSError) and is_disk_error(exc):  # a full disk where loadray did not expect one: one line
            print(f"loadray {args.verb}: error: {exc.strerror} at {redact_text(str(exc.filename or '?'), secrets)}",
                  file=sys.stderr)
            return EXIT_FAILURE
        if os.environ.get("LOADRAY_DEBUG"):
            traceback.print_exc()
        print(f"loadray {args.verb}: internal error: {type(exc).__name__}: {one_line(redact_text(str(exc), secrets))} "
              "(set LOADRAY_DEBUG=1 for the traceback)", file=sys.stderr)
        return EXIT_FAILURE


def _interrupted(who: str, exc: BaseException) -> int:
    if not isinstance(exc, Interrupted):
        exc = Interrupted(signal.SIGINT)
    print(f"{who}: {exc}", file=sys.stderr)
    return exc.exit_code


def one_line(text: str) -> str:
    """A message as one line: line breaks and other control characters escaped, cut
    to :data:`MAX_MESSAGE` characters."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def _run(args) -> int:
    from loadray.driver import RunOptions, run
    from loadray.report.text import render_summary
    from loadray.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides, environment(args.env_files))
    args.secrets = scenario.secrets  # masked in any error line from here on
    if args.out is not None:
        check_out(args.out)
    check_outputs(args)
    human = human_stream(args)
    options = RunOptions(
        out=args.out, address=args.address, quiet=args.quiet or args.summary == "-",
        metrics_port=args.metrics_port, metrics_host=args.metrics_host, metrics_linger_s=args.metrics_linger,
        preflight=args.preflight,
        on_start=lambda run_dir: print(f"run directory: {run_dir}", file=human, flush=True),
    )
    result = run(scenario, options)
    print(render_summary(result.summary), file=human)
    write_outputs(args, result.run_dir, result.summary)
    print(f"run directory: {result.run_dir}  (report: {str(result.run_dir).rstrip('/')}/report.html)", file=human)
    if result.summary.get("interrupted"):
        print(f"loadray run: interrupted ({result.summary['interrupted']}): the figures and thresholds above "
              "cover the part that ran", file=sys.stderr)
    return result.exit_code


def _submit(args) -> int:
    from loadray.cli.submit import submit

    return submit(args)


def _report(args) -> int:
    from loadray.analysis.verdict import exit_code
    from loadray.archive.fs import locate
    from loadray.report.build import rebuild
    from loadray.report.text import render_summary

    check_outputs(args)
    human = human_stream(args)
    summary = rebuild(args.run_dir)
    print(render_summary(summary), file=human)
    where = locate(args.run_dir)  # a URI's own spelling (a Path of it lost a slash)
    print(f"wrote {where.shown('summary.json')} and {where.shown('report.html')}", file=human)
    write_outputs(args, args.run_dir, summary)
    return exit_code(summary)


def _validate(args) -> int:
    from loadray.plan import Profile
    from loadray.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides, environment(args.env_files))
    args.secrets = scenario.secrets
    profile = Profile(scenario.phases)
    print(
        f"{args.scenario}: ok — {scenario.name}: {scenario.workers} workers, "
        f"{len(scenario.phases)} phases over {profile.duration_s:g}s, {_planned(scenario, profile)}"
    )
    return EXIT_OK


def _export(args) -> int:
    from loadray.cli.outputs import export

    export(args)
    return EXIT_OK


def _planned(scenario, profile) -> str:
    if scenario.model == "closed":
        from loadray.plan.users import max_users

        return f"up to {max_users(profile)} users"
    if any(len(f.steps) > 1 for f in scenario.flows):
        return f"{profile.intended} intended flows"
    return f"{profile.intended} intended requests"


def _control(args) -> int:
    from loadray.live.control import send

    command = "rate" if args.rate is not None else next(c for c in ("pause", "resume", "stop") if getattr(args, c))
    print(send(args.run_dir, command, args.rate))
    return EXIT_OK


def _target(args) -> int:
    from loadray.target import options_from_args, serve
    from loadray.target.__main__ import GRPC_READY_PREFIX

    serve(options_from_args(args), ready=lambda url: print(f"loadray target listening on {url}", flush=True),
          grpc_ready=lambda address: print(f"{GRPC_READY_PREFIX}{address}", flush=True))
    return EXIT_OK


def _compare(args) -> int:
    from loadray.api import compare, comparison_report, open_run
    from loadray.archive import write_text_atomic
    from loadray.errors import EXIT_THRESHOLDS, UsageError
    from loadray.report.comparison import comparison_text

    given = {"max_p99_increase": args.max_p99_increase, "max_error_rate_increase": args.max_error_rate_increase}
    gates = {k: (None if v == "off" else v) for k, v in given.items() if v is not None}
    base, new = open_run(args.base), open_run(args.new)
    result = compare(base, new, **gates)
    print(comparison_text(result), end="")
    if args.html is not None:
        try:
            write_text_atomic(args.html, comparison_report(result, base, new))
        except OSError as exc:
            raise UsageError(f"--html {args.html}: cannot write: {exc.strerror or exc}") from None
        print(f"wrote {args.html}")
    return EXIT_OK if result.passed else EXIT_THRESHOLDS


VERBS = {"run": _run, "report": _report, "validate": _validate, "control": _control, "target": _target,
         "compare": _compare, "submit": _submit, "export": _export}
