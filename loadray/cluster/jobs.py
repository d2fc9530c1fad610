"""Ray's job server seen from the submitting machine (``ray.job_submission``): submit a
job, follow its log, stop it, read its state. Only the dashboard's HTTP address is
needed (``http://HEAD:8265``); it needs ``ray[default]`` on the cluster's head
(``loadray[cluster]``), the client itself only plain ``ray``.

Token authentication: Ray reads ``RAY_AUTH_MODE`` once, when it is imported; the
caller sets it first (:func:`loadray.cli.submit.token_auth_env`). Every Ray error here
becomes one :class:`ClusterError` line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from loadray.errors import ClusterError

TERMINAL = ("STOPPED", "SUCCEEDED", "FAILED")
QUIET_LOGGERS = ("ray", "ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk")
TOKEN_HINT = ("the cluster wants its token: set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH (the head's token: "
              "`ray get-auth-token` there)")


@dataclass(frozen=True)
class JobState:
    status: str  # PENDING RUNNING STOPPED SUCCEEDED FAILED
    exit_code: int | None  # the entrypoint's, once it ended
    message: str

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


class JobServer:
    """One job server (a Ray cluster's dashboard address)."""

    def __init__(self, address: str) -> None:
        self.address = address
        with self._errors("cannot connect to the job server"):
            from ray.job_submission import JobSubmissionClient

            for name in QUIET_LOGGERS:  # no "Uploading package", "WebSocket closed" lines
                logging.getLogger(name).setLevel(logging.WARNING)
            self._check_auth()
            self._client = JobSubmissionClient(address)

    def submit(self, job_id: str, entrypoint: str, working_dir: str, env: dict[str, str]) -> None:
        with self._errors("cannot submit the job"):
            self._client.submit_job(entrypoint=entrypoint, submission_id=job_id,
                                    runtime_env={"working_dir": working_dir, "env_vars": env},
                                    metadata={"submitted_by": "loadray submit"})

    async def follow(self, job_id: str) -> AsyncIterator[str]:
        """The job's log from its start, as it grows, until the job has ended."""
        with self._errors("lost the job's log stream"):
            async for chunk in self._client.tail_job_logs(job_id):
                yield chunk

    def logs(self, job_id: str) -> str:
        with self._errors("cannot read the job's log"):
            return self._client.get_job_logs(job_id)

    def state(self, job_id: str) -> JobState:
        with self._errors("cannot read the job's state"):
            info = self._client.get_job_info(job_id)
        status = getattr(info.status, "value", str(info.status))
        return JobState(str(status), getattr(info, "driver_exit_code", None), info.message or "")

    def stop(self, job_id: str) -> bool:
        with self._errors("cannot stop the job"):
            return bool(self._client.stop_job(job_id))

    def job_ids(self) -> list[str]:
        with self._errors("cannot list the jobs"):
            return [j.submission_id for j in self._client.list_jobs() if j.submission_id]

    def _check_auth(self) -> None:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled

        if os.environ.get("RAY_AUTH_MODE") == "token" and not is_token_auth_enabled():
            raise ClusterError("Ray was imported before RAY_AUTH_MODE=token was set in this process: "
                               "set RAY_AUTH_MODE=token in the environment")

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except ClusterError:
            raise
        except Exception as exc:  # Ray raises many types (ConnectionError, RuntimeError, its own)
            raise ClusterError(f"--address {self.address}: {what}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if type(exc).__name__ == "AuthenticationError" or "Unauthorized" in text or "401" in text.split(" ")[:3]:
        first = text.splitlines()[0] if text else "unauthorized"
        return f"{first} ({TOKEN_HINT})"
    return text.splitlines()[0] if text else type(exc).__name__
