"""What the CLI writes beside the run directory, for CI: ``--summary PATH|-``,
``--junit PATH``, ``loadray export``; and the environment ``--env-file`` makes.

``--summary -`` puts summary.json (byte for byte) on stdout and nothing else: the
human summary and the run directory lines go to stderr then, and the live view is off.
The paths are checked before the run starts (a read-only place fails at once, not
after a 20-minute run); missing parent folders are created.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from loadray.errors import LoadrayError, UsageError

__all__ = ["check_outputs", "environment", "export", "human_stream", "write_outputs"]

STDOUT = "-"


def environment(env_files: list[Path]) -> dict[str, str]:
    """The process environment over the ``--env-file`` files' variables (it wins)."""
    from loadray.scenario.dotenv import merged, read_env_file

    return merged([read_env_file(path) for path in env_files], os.environ)


def human_stream(args) -> TextIO:
    """Where the lines for people go: stderr when stdout carries the summary JSON."""
    return sys.stderr if getattr(args, "summary", None) == STDOUT else sys.stdout


def check_outputs(args) -> None:
    if args.summary not in (None, STDOUT):
        _check_file(Path(args.summary), "--summary")
    if args.junit is not None:
        _check_file(args.junit, "--junit")


def _check_file(path: Path, flag: str) -> None:
    """``path`` can be written: not a directory, its nearest existing folder writable."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory")
    folder = next((p for p in path.absolute().parents if p.is_dir()), None)
    if folder is None:
        raise UsageError(f"{flag} {path}: no such folder")
    try:
        with tempfile.TemporaryFile(dir=folder):  # permission bits do not tell root the truth
            pass
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write in {folder}: {exc.strerror or exc}") from None


def write_outputs(args, run_dir: Path, summary: dict[str, Any]) -> None:
    """``--summary`` and ``--junit``, once summary.json is written."""
    from loadray.archive import SUMMARY_FILE
    from loadray.archive.fs import locate

    if args.summary == STDOUT:
        sys.stdout.write(locate(run_dir).read_bytes(SUMMARY_FILE).decode("utf-8"))
        sys.stdout.flush()
    elif args.summary is not None:
        _write(Path(args.summary), locate(run_dir).read_bytes(SUMMARY_FILE), "--summary")
    if args.junit is not None:
        from loadray.export import junit_xml

        _write(args.junit, junit_xml(summary).encode("utf-8"), "--junit")


def _write(path: Path, data: bytes, flag: str) -> None:
    from loadray.archive import write_bytes_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, data)
    except LoadrayError:
        raise
    except OSError as exc:
        raise LoadrayError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None


def export(args) -> None:
    """``loadray export``: to ``--out`` (a temp file renamed into place) or stdout."""
    from loadray.export import export_rows

    if args.out is None:
        try:
            export_rows(args.run_dir, args.format, sys.stdout.buffer, args.columns)
            sys.stdout.flush()
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    _check_file(args.out, "--out")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{args.out.name}.", suffix=".tmp", dir=args.out.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            rows = export_rows(args.run_dir, args.format, out, args.columns)
        os.replace(tmp, args.out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"wrote {rows} rows to {args.out}", file=sys.stderr)
