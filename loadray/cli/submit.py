"""``loadray submit SCENARIO --address http://HEAD:8265``: a run on a Ray cluster through
its job server, from any machine that reaches the dashboard.

The scenario is checked here first (exit 2, nothing sent); then it is uploaded with the
files it names (:mod:`.job_upload`) and run there by :mod:`.job_entry`. The job's log is
shown as it comes (loadray's live view); the run directory comes back in the log
(:mod:`.job_protocol`) into ``--out`` here, and the exit code is loadray's own. Ctrl+C
(or SIGTERM) stops the job: loadray there gets :data:`STOP_GRACE_S` seconds to archive
what it recorded, which is still brought back if it arrives within :data:`DRAIN_S`;
a second Ctrl+C leaves at once. Exit 130 (143 for SIGTERM).

``--out s3://...`` (any storage URI, :mod:`.job_store`): loadray on the cluster writes the
run there itself; nothing comes through the log and nothing is made here.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from loadray.cli.job_protocol import WITHOUT_SAMPLES, LogDecoder, UnsafeArchive, extract
from loadray.cli.job_store import job_out, report_of, store_env
from loadray.cli.job_upload import entrypoint, stage
from loadray.errors import EXIT_FAILURE, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, ClusterError, UsageError
from loadray.units import format_size

STOP_GRACE_S = 30  # Ray's RAY_JOB_STOP_WAIT_TIME_S for the job: SIGTERM, then SIGKILL after this
DRAIN_S = STOP_GRACE_S + 15  # how long a stopped job's end is awaited
RESUMES = 5  # a broken log stream is reopened this often
DEFAULT_TOKEN_FILE = Path("~/.ray/auth_token")


class Terminated(Exception):
    """SIGTERM while a job runs."""


def token_auth_env(environ: Mapping[str, str], token_file: Path = DEFAULT_TOKEN_FILE) -> dict[str, str]:
    """``RAY_AUTH_MODE=token`` when the environment names a token Ray would send and
    ``RAY_AUTH_MODE`` is not set (an explicit value, ``disabled`` too, is kept)."""
    if environ.get("RAY_AUTH_MODE"):
        return {}
    named = environ.get("RAY_AUTH_TOKEN") or environ.get("RAY_AUTH_TOKEN_PATH")
    return {"RAY_AUTH_MODE": "token"} if named or token_file.expanduser().is_file() else {}


def check_address(address: str) -> str:
    if not address.startswith(("http://", "https://")) or len(address.split("//", 1)[1].strip("/")) == 0:
        raise UsageError(f"--address {address}: expected the dashboard's address, e.g. http://HEAD:8265 "
                         "(the job server; not the GCS address HEAD:6379)")
    return address.rstrip("/")


def note(text: str) -> None:
    print(f"loadray submit: {text}", file=sys.stderr, flush=True)


def show(line: str) -> None:
    print(line, flush=True)


def submit(args) -> int:
    from loadray.archive.rundir import create_run_dir, default_run_dir
    from loadray.cli.outputs import environment
    from loadray.scenario import load_scenario

    # ${VAR} references are checked here and resolved on the cluster, from its own environment
    scenario = load_scenario(args.scenario, args.overrides, environment(args.env_files))
    address = check_address(args.address)
    store = job_out(args.out, scenario.archive, scenario.name)  # a bad URI: exit 2 here
    with tempfile.TemporaryDirectory(prefix="loadray-submit-") as folder:
        repeat = stage(scenario, Path(folder), args.overrides)
        place = store or create_run_dir(args.out or default_run_dir(scenario.name))  # a bad --out: exit 2 here
        try:
            os.environ.update(token_auth_env(os.environ))  # before Ray is imported: it reads it once
            from loadray.cluster.jobs import JobServer

            server = JobServer(address)
            job_id = f"loadray-{secrets.token_hex(8)}"
            command = entrypoint(job_id, args.fetch_limit, repeat, args.quiet, store)
            env = job_env(os.environ, store)
            return Submission(server, job_id, place, args.quiet, args.fetch_limit).run(command, folder, env)
        finally:
            if isinstance(place, Path):
                _remove_if_empty(place)


def job_env(environ: Mapping[str, str], store: str | None) -> dict[str, str]:
    """The job's ``runtime_env`` variables (the dashboard shows them: never a secret)."""
    env = {"RAY_JOB_STOP_WAIT_TIME_S": str(STOP_GRACE_S), "PYTHONUNBUFFERED": "1"}
    return {**env, **store_env(environ)} if store is not None else env


class Submission:
    """One job, from submission to its run directory here (``place`` a ``Path``), or in
    the store (``place`` a URI)."""

    def __init__(self, server, job_id: str, place: Path | str, quiet: bool, fetch_limit: int) -> None:
        self.server, self.job_id, self.fetch_limit = server, job_id, fetch_limit
        self.run_dir = place if isinstance(place, Path) else Path()
        self.store = place if isinstance(place, str) else None
        self.bundle_file = tempfile.TemporaryFile()
        self.decoder = LogDecoder(job_id, self.bundle_file, preamble=not quiet)
        self.announced = False
        self.last_shown = ""  # the log's last line shown

    def run(self, command: str, folder: str, env: dict[str, str]) -> int:
        stopped = None
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            try:
                self.server.submit(self.job_id, command, folder, env)
                note(f"job {self.job_id} submitted to {self.server.address}")
                self.follow()
            except (KeyboardInterrupt, Terminated) as exc:
                stopped = EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
                self.stop()
            return self.finish(stopped)
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.bundle_file.close()

    def follow(self, timeout_s: float | None = None) -> None:
        """Show the job's log until the job has ended (or ``timeout_s`` passed)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.decoder.restart()  # every stream starts at the log's start: skip what was read
        for attempt in range(RESUMES + 1):
            try:
                asyncio.run(self._pump(deadline))
                break
            except ClusterError as exc:
                if attempt == RESUMES:
                    raise
                note(f"{exc}; reopening it")
                self.decoder.restart()
                if self.server.state(self.job_id).done:
                    self._lines(self.server.logs(self.job_id))
                    break
                time.sleep(1.0)
        for line in self.decoder.close():
            self._show(line)

    async def _pump(self, deadline: float | None) -> None:
        async def pump() -> None:
            async for chunk in self.server.follow(self.job_id):
                self._lines(chunk)

        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            await asyncio.wait_for(pump(), left)
        except asyncio.TimeoutError:
            pass

    def _lines(self, chunk: str) -> None:
        for line in self.decoder.feed(chunk):
            self._show(line)
        if self.decoder.receiving and not self.announced:
            size, kind = self.decoder.receiving
            what = "the run directory" if kind != WITHOUT_SAMPLES else "the run directory without samples/"
            note(f"receiving {what} ({format_size(size)})")
            self.announced = True

    def _show(self, line: str) -> None:
        show(line)
        self.last_shown = line

    def stop(self) -> None:
        note(f"stopping job {self.job_id} (loadray there archives what it recorded; Ctrl+C again to leave now)")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            self.server.stop(self.job_id)
            self.follow(DRAIN_S)
        except KeyboardInterrupt:
            note(f"left job {self.job_id} stopping")
        except ClusterError as exc:
            note(str(exc))

    def finish(self, stopped: int | None) -> int:
        d = self.decoder
        if not d.started:
            for line in d.held:
                show(line)
        if self.store is not None:
            return self._finish_stored(stopped)
        fetched = self._unpack()
        if d.left is not None:
            what = "samples/" if fetched else "the run directory"
            note(f"{what} ({format_size(d.left.missing_bytes)}) is over --fetch-limit {format_size(self.fetch_limit)}: "
                 f"it stayed on the cluster at {d.left.ip}:{d.left.path} (inside Ray's working-directory cache, "
                 "which Ray clears when it needs the room: copy it off, or raise --fetch-limit)")
        if fetched:
            show(f"run directory: {self.run_dir}  (report: {self.run_dir / 'report.html'})")
        if stopped is None and d.exit_code is None:
            self._explain_no_exit_code()
        return exit_code(stopped, d.exit_code, fetched)

    def _finish_stored(self, stopped: int | None) -> int:
        """The end of a run the job wrote to the store: where it is, loadray's exit code."""
        d = self.decoder
        if d.stored is not None:
            where = f"run directory: {d.stored}  (report: {report_of(d.stored)})"
            if where != self.last_shown.strip():  # not twice: loadray's own line names it already
                show(where)
        elif stopped is not None and d.exit_code is None:
            note(f"no word from the job about the run: it is at {self.store} if loadray there had begun it")
        if stopped is None and d.exit_code is None:
            self._explain_no_exit_code()
        return exit_code(stopped, d.exit_code, fetched=True)

    def _unpack(self) -> bool:
        d = self.decoder
        if d.error:
            note(f"the run directory could not be brought back: {d.error}")
        if d.bundle is None:
            return False
        try:
            extract(d.bundle, self.run_dir)
        except (UnsafeArchive, OSError, ValueError) as exc:
            note(f"the run directory could not be unpacked into {self.run_dir}: {exc}")
            return False
        return True

    def _explain_no_exit_code(self) -> None:
        try:
            state = self.server.state(self.job_id)
            why = f"{state.status}: {state.message}".strip().splitlines()[0]
        except ClusterError as exc:
            why = str(exc)
        note(f"job {self.job_id} ended without loadray's exit code ({why})")


def exit_code(stopped: int | None, loadray: int | None, fetched: bool) -> int:
    """``loadray submit``'s exit code: 130/143 when it stopped the job; else loadray's
    own, except 1 when there is none or when a run that passed did not come back."""
    if stopped is not None:
        return stopped
    if loadray is None or loadray == EXIT_OK and not fetched:
        return EXIT_FAILURE
    return loadray


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only when empty
    except OSError:
        pass
