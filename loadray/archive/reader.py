"""Reading ``<run_dir>/samples/`` back into one Arrow table plus the run's times.

Older minor versions read as the current one: a 1.0 file (written before ``attempt``,
``user``, ``flow_id``, ``flow_ns`` and ``trace_id`` existed) reads with ``attempt`` 1
and the other four null, as :func:`loadray.schema.complete` fills them; a 1.0 or 1.1
file (before ``error_detail``) reads with ``error_detail`` null. (The lazy
:func:`open_dataset` shows such a file's ``attempt`` as null: a dataset has no column
defaults.) ``RunMeta.schema_version`` still says which version the files were written in.

Both layouts read alike: today's (parts renamed into place once complete, listed in
``samples/_manifest.json``, which also says how the run ended) and the older one (no
manifest; a part open at a crash has its final name and no footer, and is skipped).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from loadray.errors import ArchiveError
from loadray.schema import SCHEMA, SCHEMA_VERSION, SCHEMA_VERSION_KEY, schema_major

from .assemble import assemble
from .manifest import MANIFEST_FILE, Manifest, read_manifest
from .part import TEMP_SUFFIX
from .rundir import SAMPLES_DIR, SCENARIO_FILE
from .sink import RUN_END_KEY, RUN_RECORD_KEY, RUN_START_KEY

__all__ = ["RunMeta", "open_dataset", "read_samples", "sample_files"]

# Scanner read-ahead: enough to keep both cores decoding, little enough that the decoded
# batches waiting in memory stay small next to the table (Arrow's defaults: 4 and 16).
_FILES_AHEAD = 2
_BATCHES_AHEAD = 4
# Rows per decoded batch: at least a row group (the sink writes 131072-row groups), so
# a group decodes in one piece. Arrow's default (131072) cut the benchmark's 250k-row
# groups in two and the Parquet decoder then cost 1.5-2x the CPU (2.2 vs 1.1-1.5 s at
# 10M rows).
_BATCH_ROWS = 1 << 20
# Files memory-mapped: the decoder reads the compressed pages from the page cache where
# they are, instead of copying them into fresh buffers first (that copy page-faulted
# ~0.5 CPU-s of zeroed memory at 10M rows). Safe because a part is renamed into place
# complete and never changed after (older archives: open parts have no footer, skipped).
_MAPPED = pafs.LocalFileSystem(use_mmap=True)


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


def _ignored(name: str) -> bool:
    return name.startswith(("_", "."))


def sample_files(samples_dir: Path) -> list[Path]:
    """Parquet files of the dataset, sorted; names starting with _ or . are ignored."""
    return sorted(
        p for p in samples_dir.iterdir() if p.is_file() and not _ignored(p.name) and p.suffix == ".parquet"
    )


def _version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return (0,)


def _temp_parts(samples_dir: Path) -> list[Path]:
    """Parts a writer had not completed (see :mod:`.part`): their rows are missing."""
    return sorted(p for p in samples_dir.glob(".*.parquet" + TEMP_SUFFIX) if p.is_file())


def _missing_dir(run_dir: Path, samples_dir: Path) -> ArchiveError:
    if (run_dir / SCENARIO_FILE).is_file():
        return ArchiveError(f"{run_dir}: the run was interrupted before any request was sent "
                            f"(only {SCENARIO_FILE}, no {SAMPLES_DIR}/): nothing to report")
    return ArchiveError(f"{samples_dir}: no samples directory (not a loadray run directory?)")


def _manifest(samples_dir: Path, skipped: list[str]) -> Manifest | None:
    try:
        return read_manifest(samples_dir)
    except ArchiveError:
        skipped.append(f"{SAMPLES_DIR}/{MANIFEST_FILE}")  # the parts are read without it
        return None


def _scan(run_dir: Path) -> tuple[list[Path], RunMeta]:
    """The readable sample files of a run and the facts in their metadata."""
    samples_dir = run_dir / SAMPLES_DIR
    if not samples_dir.is_dir():
        raise _missing_dir(run_dir, samples_dir)

    readable: list[Path] = []
    skipped: list[str] = []
    manifest = _manifest(samples_dir, skipped)  # before the listing: every part it names is in place
    starts: list[int] = []
    ends: list[int] = []
    versions: list[str] = []
    record: dict = {}
    ours = schema_major(SCHEMA_VERSION)
    for path in sample_files(samples_dir):
        rel = f"{SAMPLES_DIR}/{path.name}"
        try:
            kv = pq.read_metadata(path).metadata or {}
        except (OSError, pa.ArrowException):
            skipped.append(rel)  # truncated: the part was open when the writer died
            continue
        version = kv.get(SCHEMA_VERSION_KEY, b"").decode() or SCHEMA_VERSION
        try:
            major = schema_major(version)
        except ValueError:
            raise ArchiveError(f"{rel}: unreadable schema version {version!r}") from None
        if major > ours:
            raise ArchiveError(
                f"{rel}: schema version {version} is newer than this loadray reads "
                f"({ours}.x); upgrade loadray"
            )
        versions.append(version)
        if RUN_START_KEY.encode() in kv:
            starts.append(int(kv[RUN_START_KEY.encode()]))
        if RUN_END_KEY.encode() in kv:
            ends.append(int(kv[RUN_END_KEY.encode()]))
        if RUN_RECORD_KEY.encode() in kv:
            record = json.loads(kv[RUN_RECORD_KEY.encode()])
        readable.append(path)
    skipped.extend(f"{SAMPLES_DIR}/{p.name}" for p in _temp_parts(samples_dir))
    return readable, _meta(manifest, readable, skipped, starts, ends, versions, record)


def _meta(manifest: Manifest | None, readable: list[Path], skipped: list[str], starts: list[int],
          ends: list[int], versions: list[str], record: dict) -> RunMeta:
    """The run's facts from the parts' metadata, completed by the manifest when there is one."""
    cut = None
    if manifest is not None:
        on_disk = {p.name for p in readable} | {s.rsplit("/", 1)[-1] for s in skipped}
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
        files=len(readable),
        skipped=tuple(skipped),
        record=record,
        cut=cut,
    )


def _unreadable(samples_dir: Path, exc: Exception) -> ArchiveError:
    return ArchiveError(f"{samples_dir}: cannot read samples: {str(exc).splitlines()[0]}")


def _dataset(files: list[Path], samples_dir: Path) -> ds.Dataset:
    """The files as one dataset; the columns an older writer did not know (in
    :data:`SCHEMA`, not in a file) are part of it, null in that file's rows."""
    try:
        schema = pa.unify_schemas([*(pq.read_schema(p) for p in files), SCHEMA], promote_options="permissive")
        return ds.dataset([str(p) for p in files], format="parquet", schema=schema, filesystem=_MAPPED)
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(samples_dir, exc) from None


def open_dataset(run_dir: str | os.PathLike[str]) -> tuple[ds.Dataset, RunMeta]:
    """The run's samples as a lazy ``pyarrow.dataset`` (readable files only, schemas
    unified) and its :class:`RunMeta`. Same checks as :func:`read_samples`."""
    run_dir = Path(run_dir)
    files, meta = _scan(run_dir)
    if not files:
        return ds.dataset(SCHEMA.empty_table()), meta
    return _dataset(files, run_dir / SAMPLES_DIR), meta


def read_samples(
    run_dir: str | os.PathLike[str], columns: Sequence[str] | None = None
) -> tuple[pa.Table, RunMeta]:
    """All sample rows of a run (dictionary columns unified, one chunk per column),
    only ``columns`` when given.

    Raises ArchiveError when ``samples/`` is missing or a file has a newer major schema
    version than :data:`loadray.schema.SCHEMA_VERSION`. No files -> an empty table.
    """
    dataset, meta = open_dataset(run_dir)
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
        raise _unreadable(Path(run_dir) / SAMPLES_DIR, exc) from None
    pa.default_memory_pool().release_unused()  # decode buffers: let numpy reuse the pages
    return _defaults(table), meta


def _defaults(table: pa.Table) -> pa.Table:
    """``attempt`` 1 in the rows of files that predate it (schema 1.0)."""
    if "attempt" not in table.column_names or table.column("attempt").null_count == 0:
        return table
    i = table.column_names.index("attempt")
    filled = pc.fill_null(table.column(i), pa.scalar(1, table.schema.field(i).type))
    return table.set_column(i, table.schema.field(i), filled)
