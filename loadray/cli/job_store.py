"""``loadray submit --out URI``: the run written by the job straight to a store.

The URI is checked here by its spelling only (:func:`check_store_uri`): this machine
may hold no credentials for the store, and the store is the cluster's to reach. The job
gets the store's non-secret settings set here (:func:`store_env`: its endpoint and
region, so an S3-compatible store such as MinIO works) in its ``runtime_env``, which
the dashboard shows to anyone who can see the job; credentials are never copied: the
cluster's own (instance role, the nodes' environment or AWS config) are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from loadray.archive.fs import SCHEMES, is_uri, spelled_as_uri
from loadray.errors import UsageError

#: The schemes a job can write a run to (``mock`` is pyarrow's in-process test store).
STORE_SCHEMES = tuple(s for s in SCHEMES if s != "mock")
#: Settings of the AWS SDK that name a store, not a secret: passed to the job when set here.
STORE_SETTINGS = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION")


def check_store_uri(text: str) -> str:
    """``text`` as the job's ``--out``: a supported scheme, ``scheme://bucket/path`` with
    a path below the bucket (``file:///path``), no blanks; :class:`UsageError` naming
    ``--out`` otherwise."""
    scheme = text.split(":", 1)[0].lower()
    if scheme not in STORE_SCHEMES:
        raise UsageError(f"--out {text}: unsupported storage scheme {scheme!r} (a local directory, or one of "
                         f"{', '.join(s + '://' for s in STORE_SCHEMES)})")
    if any(c.isspace() for c in text):
        raise UsageError(f"--out {text!r}: a storage URI has no blanks")
    parts = urlsplit(text)
    if not text[len(scheme) + 1:].startswith("//"):
        raise UsageError(f"--out {text}: expected {scheme}://{'/path' if scheme == 'file' else 'bucket/path'}")
    path = parts.path.strip("/")
    if scheme == "file":
        if parts.netloc or not path:
            raise UsageError(f"--out {text}: expected file:///absolute/path (a mount the cluster's head shares)")
    elif not parts.netloc or not path:
        raise UsageError(f"--out {text}: expected {scheme}://bucket/path (the run's own directory in the bucket)")
    if any(p in (".", "..") for p in path.split("/")):
        raise UsageError(f"--out {text}: '.' and '..' are not allowed in a storage URI")
    return text


def job_out(out: str | None, archive: str | None, name: str) -> str | None:
    """The storage URI the job writes the run to: ``--out`` when it names one, else a
    new run under the scenario's ``archive:`` when that is a URI; None: the run comes here."""
    if out is not None:
        return check_store_uri(out) if spelled_as_uri(out) else None
    if archive is not None and is_uri(archive):
        from loadray.archive.run_place import new_run_place

        return check_store_uri(new_run_place(archive, name))
    return None


def store_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The store's non-secret settings set here, for the job's ``runtime_env``."""
    return {k: environ[k] for k in STORE_SETTINGS if environ.get(k)}


def report_of(uri: str) -> str:
    """``report.html`` in the run at ``uri`` (query options kept at the end)."""
    head, sep, query = uri.partition("?")
    return f"{head.rstrip('/')}/report.html{sep}{query}"
