"""The driver's side of an archive that workers write themselves: the run directory
as workers open it, the manifest entry (and /metrics count) of each part a worker
completed, and the parts nobody reported (their worker died just after writing them).
"""

from __future__ import annotations

import os
from pathlib import Path

from loadray.archive import SAMPLES_DIR, write_scenario
from loadray.archive.fs import RunLocation, is_uri, locate
from loadray.archive.ledger import unlisted_parts
from loadray.archive.part_series import WrittenPart
from loadray.archive.run_place import write_scenario_at
from loadray.cluster import Launcher
from loadray.errors import LoadrayError

__all__ = ["find_unlisted", "listed", "worker_archive", "write_scenario_in"]


def write_scenario_in(run_dir, doc: dict) -> None:
    if isinstance(run_dir, Path):
        write_scenario(run_dir, doc)
    else:
        write_scenario_at(locate(run_dir), doc)


def worker_archive(loc: RunLocation) -> str:
    """The run directory as workers open it: a URI as given (``file://``: a mount every
    host shares), a local path absolute (written directly on the driver's node only)."""
    return loc.display if loc.local is None or is_uri(loc.display) else os.path.abspath(loc.local)


def listed(sink, loc: RunLocation, part: WrittenPart, metrics) -> None:
    """A part a worker completed: into the manifest; /metrics counts its rows."""
    sink.add_part(part)
    if metrics is not None:
        import pyarrow.parquet as pq

        metrics.observe(pq.read_table(loc.path(SAMPLES_DIR, part.file), filesystem=loc.filesystem))


def find_unlisted(sink, loc: RunLocation, launcher: Launcher, metrics) -> None:
    """Parts of workers that died before saying so: listed and counted all the same."""
    known = {p.file for p in sink.manifest.parts} | {p.name for p in getattr(sink, "files", [])}
    try:
        found = unlisted_parts(loc, known)
    except LoadrayError:
        return  # the store is unreachable now: the parts stay the truth for readers
    for part in found:
        listed(sink, loc, part, metrics)
        launcher.found(part)
