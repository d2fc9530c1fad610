"""Reading ``<run_dir>/samples/`` back: the readable parts with their footers and the
run's times (:func:`scan_parts`), as one Arrow table (:func:`read_samples`) or a lazy
``pyarrow.dataset`` (:func:`open_dataset`). ``run_dir`` is a local directory or a storage
URI (``s3://bucket/prefix/run``, see :mod:`.fs`); the streaming reader of every row in
bounded memory is :mod:`.source`.

Older minor versions read as the current one: a 1.0 file (written before ``attempt``,
``user``, ``flow_id``, ``flow_ns`` and ``trace_id`` existed) reads with ``attempt`` 1
and the other four null, as :func:`loadray.schema.complete` fills them; a 1.0 or 1.1
file (before ``error_detail``) reads with ``error_detail`` null. (The lazy
:func:`open_dataset` shows such a file's ``attempt`` as null: a dataset has no column
defaults.) ``RunMeta.schema_version`` still says which version the files were written in.

Both layouts read alike: today's (parts renamed into place once complete, listed in
``samples/_manifest.json``, which also says how the run ended) and the older one (no
manifest; a part open at a crash has its final name and no footer, and is skipped).
Once the manifest is complete (the driver closed the run) it is the truth: exactly the
parts it lists are read; a part completed later is in ``RunMeta.unlisted``. Without a
complete manifest (the driver died, or its store did not answer at the end) every
complete part is read, but for an upload its worker gave up on that landed later, whose
batches another part holds (:func:`.part_series.not_written_again`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from loadray.errors import ArchiveError
from loadray.schema import SCHEMA, SCHEMA_VERSION, SCHEMA_VERSION_KEY, schema_major

from .assemble import assemble
from .fs import RunLocation, locate
from .manifest import MANIFEST_FILE, Manifest
from .part import TEMP_SUFFIX
from .part_series import not_written_again, written_part
from .rundir import SAMPLES_DIR, SCENARIO_FILE
from .sink import RUN_END_KEY, RUN_RECORD_KEY, RUN_START_KEY

__all__ = ["Part", "RunMeta", "open_dataset", "part_names", "read_samples", "sample_files", "scan_parts"]

# Scanner read-ahead: enough to keep both cores decoding, little enough that the decoded
# batches waiting in memory stay small next to the table (Arrow's defaults: 4 and 16).
_FILES_AHEAD = 2
_BATCHES_AHEAD = 4
# Rows per decoded batch: at least a row group (the sink writes 131072-row groups), so
# a group decodes in one piece. Arrow's default (131072) cut the benchmark's 250k-row
# groups in two and the Parquet decoder then cost 1.5-2x the CPU (2.2 vs 1.1-1.5 s at
# 10M rows).
_BATCH_ROWS = 1 << 20


@dataclass(frozen=True)
class RunMeta:
    """Run-wide facts stored in the sample files' metadata.

    ``end_ns`` is None when neither a file nor the manifest recorded it (the run did not
    close its sink, e.g. it was killed). ``skipped`` lists files (relative to the run
    dir) whose rows are missing: parts still open when the process died (hidden
    ``.*.parquet.tmp`` parts, or footerless parts of archives written before parts were
    renamed into place), parts the manifest lists that are gone, an unreadable manifest.
    """

    start_ns: int | None
    end_ns: int | None
    schema_version: str = SCHEMA_VERSION
    files: int = 0
    skipped: tuple[str, ...] = ()
    # what the live run recorded besides rows: events, lost requests, worker placement,
    # warnings, abort reason (JSON under ``loadray.run``); {} for runs without it
    record: dict = field(default_factory=dict)
    # why the run stopped writing early (``disk full at ... after N rows; ...``), from
    # the manifest; None when it did not
    cut: str | None = None
    # complete parts the run's complete manifest does not list (a worker completed them
    # after the driver closed the run, see .fence): not part of the run, not read
    unlisted: tuple[str, ...] = ()
    # parts the run's complete manifest lists that are gone or cannot be read (the archive
    # was damaged after the run: truncated, overwritten, deleted), and the rows it says they held
    damaged: tuple[str, ...] = ()
    damaged_rows: int = 0


@dataclass(frozen=True)
class Part:
    """A readable sample file: its name in ``samples/``, its path in the run's file
    system, and its parsed footer (row groups, statistics, schema)."""

    name: str
    path: str
    metadata: pq.FileMetaData

    @property
    def rows(self) -> int:
        return self.metadata.num_rows


def _ignored(name: str) -> bool:
    return name.startswith(("_", "."))


def _names(loc: RunLocation) -> list[str]:
    return sorted(i.base_name for i in loc.files(SAMPLES_DIR))


def _parquet(name: str) -> bool:
    return not _ignored(name) and name.endswith(".parquet")


def part_names(loc: RunLocation) -> set[str]:
    """The names of the run's samples parts in place, footers unread: those its complete
    manifest lists, else every ``*.parquet`` in ``samples/``."""
    names = set(filter(_parquet, _names(loc)))
    manifest = _manifest(loc, [])
    return names & {p.file for p in manifest.parts} if manifest is not None and manifest.complete else names


def sample_files(samples_dir: str | os.PathLike[str]) -> list[Path]:
    """Parquet files of a local dataset, sorted; names starting with _ or . are ignored."""
    return sorted(p for p in Path(samples_dir).iterdir() if p.is_file() and _parquet(p.name))


def _version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return (0,)


def _missing_dir(loc: RunLocation) -> ArchiveError:
    if loc.is_file(SCENARIO_FILE):
        return ArchiveError(f"{loc}: the run was interrupted before any request was sent "
                            f"(only {SCENARIO_FILE}, no {SAMPLES_DIR}/): nothing to report")
    return ArchiveError(f"{loc.shown(SAMPLES_DIR)}: no samples directory (not a loadray run directory?)")


def _manifest(loc: RunLocation, skipped: list[str]) -> Manifest | None:
    """The manifest, None for archives without one; an unreadable one is skipped."""
    try:
        text = loc.read_bytes(SAMPLES_DIR, MANIFEST_FILE).decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ArchiveError, UnicodeDecodeError):
        skipped.append(f"{SAMPLES_DIR}/{MANIFEST_FILE}")  # the parts are read without it
        return None
    try:
        return Manifest.from_json(text)
    except (ValueError, KeyError, TypeError):
        skipped.append(f"{SAMPLES_DIR}/{MANIFEST_FILE}")
        return None


def _footer(loc: RunLocation, name: str) -> pq.FileMetaData | None:
    """The part's footer; None when it has none (open when its writer died)."""
    try:
        return pq.read_metadata(loc.path(SAMPLES_DIR, name), filesystem=loc.filesystem)
    except (OSError, pa.ArrowException):
        return None


def _version(kv: dict, rel: str) -> str:
    version = kv.get(SCHEMA_VERSION_KEY, b"").decode() or SCHEMA_VERSION
    ours = schema_major(SCHEMA_VERSION)
    try:
        major = schema_major(version)
    except ValueError:
        raise ArchiveError(f"{rel}: unreadable schema version {version!r}") from None
    if major > ours:
        raise ArchiveError(f"{rel}: schema version {version} is newer than this loadray reads "
                           f"({ours}.x); upgrade loadray")
    return version


def scan_parts(run_dir: str | os.PathLike[str] | RunLocation) -> tuple[list[Part], RunMeta]:
    """The readable sample files of a run (footers parsed) and the facts in their metadata.

    Raises ArchiveError when ``samples/`` is missing or a file has a newer major schema
    version than :data:`loadray.schema.SCHEMA_VERSION`."""
    loc = locate(run_dir)
    if not loc.is_dir(SAMPLES_DIR):
        raise _missing_dir(loc)
    skipped: list[str] = []
    damaged: list[str] = []  # listed in the complete manifest, unreadable
    manifest = _manifest(loc, skipped)  # before the listing: every part it names is in place
    names = _names(loc)
    parts: list[Part] = []
    starts, ends, versions, record = [], [], [], {}
    listed = {p.file for p in manifest.parts} if manifest is not None and manifest.complete else None
    unlisted = [n for n in filter(_parquet, names) if listed is not None and n not in listed]
    for name in filter(_parquet, names):
        rel = f"{SAMPLES_DIR}/{name}"
        if listed is not None and name not in listed:
            continue  # completed after the run was closed: not part of it (see .fence)
        footer = _footer(loc, name)
        if footer is None:  # truncated: the part was open when the writer died, or damaged since
            (damaged if listed is not None else skipped).append(rel)
            continue
        kv = footer.metadata or {}
        versions.append(_version(kv, rel))
        if RUN_START_KEY.encode() in kv:
            starts.append(int(kv[RUN_START_KEY.encode()]))
        if RUN_END_KEY.encode() in kv:
            ends.append(int(kv[RUN_END_KEY.encode()]))
        if RUN_RECORD_KEY.encode() in kv:
            record = json.loads(kv[RUN_RECORD_KEY.encode()])
        parts.append(Part(name, loc.path(SAMPLES_DIR, name), footer))
    skipped.extend(f"{SAMPLES_DIR}/{n}" for n in names if n.startswith(".") and n.endswith(".parquet" + TEMP_SUFFIX))
    if listed is None:
        parts = _each_batch_once(parts, manifest)
    meta = _meta(manifest, parts, skipped, starts, ends, versions, record)
    if listed is not None and manifest is not None:  # a listed part gone is damage too
        on_disk = set(names)
        damaged += [f"{SAMPLES_DIR}/{p.file}" for p in manifest.parts if p.file not in on_disk]
        meta = replace(meta, skipped=tuple(s for s in meta.skipped if s not in damaged), damaged=tuple(damaged),
                       damaged_rows=sum(p.rows for p in manifest.parts if f"{SAMPLES_DIR}/{p.file}" in damaged))
    return parts, replace(meta, unlisted=tuple(f"{SAMPLES_DIR}/{n}" for n in unlisted))


def _each_batch_once(parts: list[Part], manifest: Manifest | None) -> list[Part]:
    """``parts`` without the worker-written ones whose batches another part holds (an
    upload given up on that landed later); the parts an incomplete manifest lists stay."""
    reported = {p.file for p in manifest.parts} if manifest is not None else set()
    written = {p.name: written_part(p.name, p.metadata) for p in parts}
    kept = {w.file for w in not_written_again([w for w in written.values() if w is not None and
                                               w.file not in reported], reported)}
    return [p for p in parts if written[p.name] is None or p.name in reported or p.name in kept]


def _meta(manifest: Manifest | None, parts: list[Part], skipped: list[str], starts: list[int],
          ends: list[int], versions: list[str], record: dict) -> RunMeta:
    """The run's facts from the parts' metadata, completed by the manifest when there is one."""
    cut = None
    if manifest is not None:
        on_disk = {p.name for p in parts} | {s.rsplit("/", 1)[-1] for s in skipped}
        skipped.extend(f"{SAMPLES_DIR}/{p.file}" for p in manifest.parts if p.file not in on_disk)
        if manifest.run_start_ns is not None:
            starts.append(manifest.run_start_ns)
        if not ends and manifest.run_end_ns is not None:
            ends.append(manifest.run_end_ns)
        record = record or dict(manifest.record or {})
        cut = (manifest.cut or {}).get("message")
        if cut:
            record = {**record, "aborted": record.get("aborted") or cut}
    return RunMeta(
        start_ns=min(starts) if starts else None,
        end_ns=max(ends) if ends else None,
        schema_version=max(versions, key=_version_tuple) if versions else SCHEMA_VERSION,
        files=len(parts),
        skipped=tuple(skipped),
        record=record,
        cut=cut,
    )


def unreadable(where: str, exc: Exception) -> ArchiveError:
    """The one-line error for samples that could not be decoded."""
    return ArchiveError(f"{where}: cannot read samples: {str(exc).splitlines()[0]}")


def unified_schema(parts: Sequence[Part]) -> pa.Schema:
    """The parts' schemas and :data:`SCHEMA` unified: the columns an older writer did not
    know are part of it (null in that file's rows)."""
    return pa.unify_schemas([*(p.metadata.schema.to_arrow_schema() for p in parts), SCHEMA],
                            promote_options="permissive")


def _dataset(loc: RunLocation, parts: list[Part]) -> ds.Dataset:
    try:
        return ds.dataset([p.path for p in parts], format="parquet", schema=unified_schema(parts),
                          filesystem=loc.filesystem)
    except (OSError, pa.ArrowException) as exc:
        raise unreadable(loc.shown(SAMPLES_DIR), exc) from None


def open_dataset(run_dir: str | os.PathLike[str] | RunLocation) -> tuple[ds.Dataset, RunMeta]:
    """The run's samples as a lazy ``pyarrow.dataset`` (readable files only, schemas
    unified) and its :class:`RunMeta`. Same checks as :func:`read_samples`."""
    loc = locate(run_dir)
    parts, meta = scan_parts(loc)
    if not parts:
        return ds.dataset(SCHEMA.empty_table()), meta
    return _dataset(loc, parts), meta


def read_samples(
    run_dir: str | os.PathLike[str] | RunLocation, columns: Sequence[str] | None = None
) -> tuple[pa.Table, RunMeta]:
    """All sample rows of a run (dictionary columns unified, one chunk per column),
    only ``columns`` when given.

    Raises ArchiveError when ``samples/`` is missing or a file has a newer major schema
    version than :data:`loadray.schema.SCHEMA_VERSION`. No files -> an empty table.
    """
    loc = locate(run_dir)
    dataset, meta = open_dataset(loc)
    names = list(columns) if columns is not None else dataset.schema.names
    if not meta.files:
        return SCHEMA.empty_table().select(names), meta
    try:
        batches = dataset.to_batches(
            columns=names, batch_size=_BATCH_ROWS, fragment_readahead=_FILES_AHEAD, batch_readahead=_BATCHES_AHEAD
        )
        schema = pa.schema([dataset.schema.field(n) for n in names], metadata=dataset.schema.metadata)
        table = assemble(schema, dataset.count_rows(), batches)
    except (OSError, ValueError, pa.ArrowException) as exc:  # ValueError: files changed while read
        raise unreadable(loc.shown(SAMPLES_DIR), exc) from None
    pa.default_memory_pool().release_unused()  # decode buffers: let numpy reuse the pages
    return _defaults(table), meta


def _defaults(table: pa.Table) -> pa.Table:
    """``attempt`` 1 in the rows of files that predate it (schema 1.0)."""
    if "attempt" not in table.column_names or table.column("attempt").null_count == 0:
        return table
    i = table.column_names.index("attempt")
    filled = pc.fill_null(table.column(i), pa.scalar(1, table.schema.field(i).type))
    return table.set_column(i, table.schema.field(i), filled)
