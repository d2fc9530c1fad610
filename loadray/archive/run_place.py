"""Where a new run is written: a local directory (today's ``runs/<UTC time>-<name>``)
or a directory under a storage URI (``s3://bucket/prefix/<UTC time>-<name>``).

A URI keeps its query options (``?endpoint_override=...&region=...``) after the
run's own path, so every process that opens it reaches the same store.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import yaml

from loadray.errors import ArchiveError, DiskError

from .fs import RunLocation, is_uri, locate
from .rundir import SCENARIO_FILE, create_run_dir, default_run_dir

__all__ = ["create_run", "new_run_place", "write_scenario_at"]


def new_run_place(base: str | None, name: str, now: datetime | None = None) -> str:
    """The run directory for a run of ``name`` under ``base`` (default: ``runs``)."""
    default = default_run_dir(name, now)
    if base is None:
        return str(default)
    if not is_uri(base):
        return str(Path(base) / default.name)
    head, sep, query = base.partition("?")
    return f"{head.rstrip('/')}/{default.name}{sep}{query}"


def text_of(where: str | os.PathLike[str]) -> str:
    """``where`` as the user wrote it (a ``Path`` made of a URI gets its slashes back)."""
    return locate(where).display if is_uri(where) else os.fspath(where)


def create_run(where: str | os.PathLike[str]) -> RunLocation:
    """Create the run directory (local) or check the URI holds nothing yet; an existing
    non-empty one is refused (:class:`ArchiveError`)."""
    if not is_uri(where):
        return locate(create_run_dir(where))
    loc = locate(where)
    if loc.local is not None:
        create_run_dir(loc.local)
        return loc
    try:
        found = loc.filesystem.get_file_info(loc.root.split("/", 1)[0])
    except OSError as exc:
        raise ArchiveError(f"--out {loc}: cannot reach the store: {str(exc).splitlines()[0]}") from None
    if found.type.name == "NotFound":
        raise ArchiveError(f"--out {loc}: bucket {loc.root.split('/', 1)[0]!r} does not exist")
    if loc.is_dir():
        raise ArchiveError(f"--out {loc}: already exists and is not empty")
    return loc


def write_scenario_at(loc: RunLocation, doc: dict) -> None:
    """``scenario.yaml`` (the resolved, redacted document) in the run: the run's first
    write, so a store that refuses it is the ``--out`` given (:class:`ArchiveError`)."""
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    try:
        loc.write_bytes(text.encode("utf-8"), SCENARIO_FILE)
    except DiskError as exc:
        raise ArchiveError(f"--out {exc}") from None
