"""The entrypoint of a job that ``loadray submit`` sends to Ray's job server:
``python -m loadray.cli.job_entry --id ID --fetch-limit BYTES [--out URI] -- RUN_ARGS``.

It runs ``loadray run RUN_ARGS --address auto --out runs/ID`` (in the job's working
directory, where the scenario was uploaded) as a child process, so loadray's output is
the job's log as it happens. Then it writes the run directory into the log (see
:mod:`loadray.cli.job_protocol`): all of it when the archive fits in BYTES, else all
but ``samples/``, which stays where it is (its address is written instead); a run
directory sent whole is removed from the cluster. Last comes loadray's exit code, which
is also the entrypoint's own (Ray's job status only says SUCCEEDED or FAILED).

With ``--out URI`` (``loadray submit --out s3://...``) loadray writes the run there
itself and nothing comes through the log: the entrypoint only says, once loadray has
ended, whether the store holds the run (``stored URI``): after exit 0 or 99 it does
(loadray wrote its summary there), after exit 2 it is not this run's (loadray refused
the place: a run there already is another's), else the store is asked.

SIGTERM (Ray's job stop) reaches loadray directly: Ray signals the whole process tree.
The entrypoint only waits for loadray to archive what it recorded, then sends it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from loadray.cli.job_protocol import SAMPLES, WHOLE, WITHOUT_SAMPLES, TooLarge, bundle_lines, marker, pack, tree_size
from loadray.errors import EXIT_OK, EXIT_SIGTERM, EXIT_THRESHOLDS, EXIT_USAGE

RUNS = "runs"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadray.cli.job_entry")
    parser.add_argument("--id", required=True)
    parser.add_argument("--fetch-limit", type=int, required=True)
    parser.add_argument("--out", help="a storage URI loadray writes the run to (nothing comes through the log)")
    parser.add_argument("run_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.run_args[:1] == ["--"]:
        args.run_args = args.run_args[1:]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    stopped: list[int] = []
    signal.signal(signal.SIGTERM, lambda sig, frame: stopped.append(sig))
    signal.signal(signal.SIGINT, lambda sig, frame: stopped.append(sig))
    say = _printer()
    say(marker(args.id, "start"))
    run_dir = Path.cwd() / RUNS / args.id
    code = EXIT_SIGTERM if stopped else run_loadray(args.run_args, args.out or str(run_dir))
    if args.out is not None:
        if run_is_stored(code, lambda: stored(args.out, say)):
            say(marker(args.id, "stored", args.out))
    elif run_dir.is_dir() and any(run_dir.iterdir()):
        send_run_dir(args.id, run_dir, args.fetch_limit, say)
    say(marker(args.id, "exit", code))
    return code


def run_is_stored(code: int, look: Callable[[], bool]) -> bool:
    """Whether the store holds the run after loadray's exit ``code``: it wrote its summary
    there (0, 99); it refused the place (2); else ``look`` tells."""
    if code in (EXIT_OK, EXIT_THRESHOLDS):
        return True
    return code != EXIT_USAGE and look()


def stored(uri: str, say: Callable[[str], None]) -> bool:
    """Whether the store at ``uri`` holds a run (its ``scenario.yaml``, loadray's first write)."""
    from loadray.archive import SCENARIO_FILE
    from loadray.archive.fs import locate
    from loadray.errors import LoadrayError

    try:
        return locate(uri).is_file(SCENARIO_FILE)
    except LoadrayError as exc:
        say(f"loadray job: could not look at {uri}: {exc}")
        return False


def run_loadray(run_args: list[str], out: str) -> int:
    argv = [sys.executable, "-m", "loadray", "run", *run_args, "--address", "auto", "--out", out]
    child = subprocess.Popen(argv)
    while True:
        try:
            code = child.wait()
            break
        except InterruptedError:  # pragma: no cover - Python retries wait() itself
            continue
    return code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell says


def send_run_dir(job_id: str, run_dir: Path, limit: int, say: Callable[[str], None]) -> None:
    """The run directory into the log: whole, else without ``samples/`` (left here)."""
    with tempfile.TemporaryFile() as tar:
        for kind, with_samples in ((WHOLE, True), (WITHOUT_SAMPLES, False)):
            tar.seek(0)
            tar.truncate()
            try:
                size = pack(run_dir, tar, limit, samples=with_samples)
            except TooLarge:
                continue
            for line in bundle_lines(job_id, tar, size, kind):
                say(line)
            break
        else:
            kind = ""
    if kind == WHOLE:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    missing = run_dir / SAMPLES if kind == WITHOUT_SAMPLES else run_dir  # what did not come
    say(marker(job_id, "left", tree_size(missing) if missing.is_dir() else 0, node_ip(), run_dir))


def node_ip() -> str:
    """This node's address as the cluster reaches it (the route to the GCS address Ray
    gives the job in RAY_ADDRESS); the host name when that cannot be told."""
    host, _, port = os.environ.get("RAY_ADDRESS", "").rpartition(":")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, int(port)))  # UDP: no packet is sent
            return s.getsockname()[0]
    except (OSError, ValueError):
        return socket.gethostname()


def _printer() -> Callable[[str], None]:
    out = sys.stdout

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    return say


if __name__ == "__main__":
    sys.exit(main())
