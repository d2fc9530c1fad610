"""The driver's side of parts the workers write themselves: the manifest.

Workers write their parts straight to the run's storage (:mod:`.part_series`) and tell
the driver of each one; the driver lists them in ``samples/_manifest.json`` with their
row counts (:class:`PartLedger` for a storage URI; a local run's
:class:`~.sink.SampleSink` keeps the same list beside the parts it writes itself for
workers on other hosts). When the run ends, :func:`unlisted_parts` finds the parts
nobody told it of (a worker that died right after completing one) from the storage's
listing and their footers, so the manifest's counts match the rows a reader finds.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from dataclasses import replace

import pyarrow as pa
import pyarrow.parquet as pq

from loadray.errors import ArchiveError, DiskError, LoadrayError
from loadray.stream.table import CHUNKS_DIR

from .fs import RunLocation
from .manifest import MANIFEST_FILE, Manifest, PartEntry
from .part import TEMP_SUFFIX
from .part_series import WrittenPart, not_written_again, written_part
from .rundir import SAMPLES_DIR
from .store_part import ensure_samples_dir

__all__ = ["PartLedger", "drop_orphan_chunks", "drop_stale_temps", "unlisted_parts"]


def _footer_part(loc: RunLocation, name: str) -> WrittenPart | None:
    try:
        md = pq.read_metadata(loc.path(SAMPLES_DIR, name), filesystem=loc.filesystem)
    except (OSError, pa.ArrowException):
        return None  # no footer: not a complete part
    return written_part(name, md)


def unlisted_parts(loc: RunLocation, listed: Iterable[str]) -> list[WrittenPart]:
    """Complete worker-written parts in ``samples/`` that are not in ``listed``, but
    for the uploads their worker gave up on whose batches another part holds (see
    :func:`not_written_again`): those are deleted. Called once no worker runs."""
    known = set(listed)
    names = sorted(i.base_name for i in loc.files(SAMPLES_DIR))
    found = [p for p in (_footer_part(loc, n) for n in names if n.endswith(".parquet")
                         and not n.startswith(("_", ".")) and n not in known) if p is not None]
    kept = not_written_again(found, known)
    for part in found:  # no worker writes now: the duplicates leave the store (best effort)
        if part not in kept:
            with contextlib.suppress(OSError):
                loc.filesystem.delete_file(loc.path(SAMPLES_DIR, part.file))
    return kept


def drop_stale_temps(loc: RunLocation) -> list[str]:
    """Delete the hidden temporary parts workers left (``.worker-*.parquet.tmp`` in
    ``samples/`` and ``chunks/``: open when the worker died or was stopped) once no worker
    runs; their paths in the run. Object stores have none (a part is uploaded whole)."""
    if loc.local is None:
        return []
    gone = []
    for directory in (SAMPLES_DIR, CHUNKS_DIR):
        for info in loc.files(directory):
            name = info.base_name
            if name.startswith(".worker-") and name.endswith(".parquet" + TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    loc.filesystem.delete_file(info.path)
                    gone.append(f"{directory}/{name}")
    return gone


def drop_orphan_chunks(loc: RunLocation, listed: set[str]) -> list[str]:
    """Delete the ``chunks/`` parts whose samples part is not among ``listed`` (the
    complete manifest's: on a storage URI every chunks/ part is a worker's companion,
    see :mod:`.part_series`): one whose samples part failed after it and whose delete
    failed too (its rows were written again), or completed after the run was closed.
    No reader counts them; this leaves none in the store. Best effort; the names deleted."""
    gone = []
    with contextlib.suppress(LoadrayError):
        for info in loc.files(CHUNKS_DIR):
            if info.base_name.endswith(".parquet") and info.base_name not in listed:
                with contextlib.suppress(OSError):
                    loc.filesystem.delete_file(info.path)
                    gone.append(info.base_name)
    return gone


class PartLedger:
    """``samples/_manifest.json`` of a run on a storage URI, where every worker writes
    its own parts (the driver receives no rows)."""

    def __init__(self, loc: RunLocation, run_start_ns: int) -> None:
        self.loc = loc
        self._manifest = Manifest(run_start_ns=int(run_start_ns))
        self._dirty = False
        self._saving: threading.Thread | None = None  # the save tick() started, if one runs
        ensure_samples_dir(loc)
        self._save()

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    @property
    def rows_kept(self) -> int:
        return self._manifest.rows

    def add_part(self, part: WrittenPart) -> None:
        self._manifest = self._manifest.with_part(PartEntry(part.file, part.worker, part.rows))
        self._dirty = True

    def write(self, worker: int, batch: object) -> None:
        raise ArchiveError(f"{self.loc}: rows of worker {worker} reached the driver; "
                           "on a storage URI every worker writes its own parts")

    def tick(self) -> None:
        """Save the manifest if a part joined, in a thread of its own (a store that does
        not answer holds an upload ~30 s: never the driver's loop); a store that refuses
        it, or one still busy with the last save, gets it at a later tick (the parts are the
        truth until the run is closed)."""
        if self._dirty and (self._saving is None or not self._saving.is_alive()):
            self._dirty = False
            self._saving = threading.Thread(target=self._save_quietly, args=(self._manifest,),
                                            name="loadray-manifest", daemon=True)
            self._saving.start()

    def wait_saved(self) -> None:
        """Return once the save :meth:`tick` started (if one runs) ended, as the SDK's
        limits end it."""
        if self._saving is not None:
            self._saving.join()

    def _save_quietly(self, manifest: Manifest) -> None:
        try:
            self.loc.write_bytes(manifest.to_json().encode("utf-8"), SAMPLES_DIR, MANIFEST_FILE)
        except DiskError:
            self._dirty = True

    def close(self, run_end_ns: int, record: dict | None = None) -> None:
        """The complete manifest, then the ``chunks/`` parts of no listed part deleted
        (:func:`drop_orphan_chunks`); :class:`DiskError` (saying what the store holds)
        when the store refuses the manifest: readers then read every complete part."""
        self._manifest = replace(self._manifest, run_end_ns=int(run_end_ns), record=record, complete=True)
        self.wait_saved()  # its upload must not land after the complete one
        try:
            self._save()
        except DiskError as exc:
            m = self._manifest
            raise DiskError(f"{exc}; the store holds the {m.rows} rows of the {len(m.parts)} parts completed "
                            "before (the run's record is not stored)") from None
        drop_orphan_chunks(self.loc, {p.file for p in self._manifest.parts})

    def _save(self) -> None:
        self.loc.write_bytes(self._manifest.to_json().encode("utf-8"), SAMPLES_DIR, MANIFEST_FILE)
        self._dirty = False
