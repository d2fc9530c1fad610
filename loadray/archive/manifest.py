"""``samples/_manifest.json``: the complete parts of a run and how the run ended.

Rewritten atomically (temp file + rename) by the sink each time parts complete and
when the run ends, so a reader sees either the previous or the new list, never half::

    {"format": 1, "run_start_ns": ..., "run_end_ns": null, "complete": false,
     "rows": 1200, "parts": [{"file": "worker-000-0000.parquet", "worker": 0, "rows": 600}, ...],
     "cut": null, "record": null}

``complete`` is true once the sink closed cleanly; ``cut`` says why a run stopped
writing early (``{"reason": "disk", "problem": "disk full", "message": ...,
"rows_received": N, "rows_kept": M, "at_ns": epoch ns}``); ``record`` is the live run's record (events, warnings...), also
stamped on the parts open at the end. Until the run is complete the parts themselves
are the truth (a part renamed into place just before a crash is complete even if the
manifest missed it); once ``complete`` is true the manifest is: readers read exactly
the parts it lists (a part a worker completed after the driver closed the run is not
part of it, see :mod:`.fence`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loadray.errors import ArchiveError

from .rundir import replace_file

__all__ = ["MANIFEST_FILE", "Manifest", "PartEntry", "read_manifest", "write_manifest"]

MANIFEST_FILE = "_manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class PartEntry:
    file: str  # name inside samples/
    worker: int
    rows: int


@dataclass(frozen=True)
class Manifest:
    run_start_ns: int | None
    run_end_ns: int | None = None
    complete: bool = False
    parts: tuple[PartEntry, ...] = ()
    cut: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    format: int = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)  # keys a newer writer added

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    def with_part(self, part: PartEntry) -> Manifest:
        return replace(self, parts=(*self.parts, part))

    def to_json(self) -> str:
        doc = {
            **self.extra,
            "format": self.format,
            "run_start_ns": self.run_start_ns,
            "run_end_ns": self.run_end_ns,
            "complete": self.complete,
            "rows": self.rows,
            "parts": [{"file": p.file, "worker": p.worker, "rows": p.rows} for p in self.parts],
            "cut": self.cut,
            "record": self.record,
        }
        return json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        known = {"format", "run_start_ns", "run_end_ns", "complete", "rows", "parts", "cut", "record"}
        return cls(
            run_start_ns=_int_or_none(doc.get("run_start_ns")),
            run_end_ns=_int_or_none(doc.get("run_end_ns")),
            complete=bool(doc.get("complete", False)),
            parts=tuple(PartEntry(str(p["file"]), int(p["worker"]), int(p["rows"])) for p in doc.get("parts") or []),
            cut=_dict_or_none(doc.get("cut")),
            record=_dict_or_none(doc.get("record")),
            format=int(doc.get("format", FORMAT)),
            extra={k: v for k, v in doc.items() if k not in known},
        )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None


def write_manifest(samples_dir: str | os.PathLike[str], manifest: Manifest) -> Path:
    """Replace ``samples/_manifest.json`` atomically. OSError passes through (the sink
    decides what a full disk means)."""
    return replace_file(Path(samples_dir) / MANIFEST_FILE, manifest.to_json().encode("utf-8"))


def read_manifest(samples_dir: str | os.PathLike[str]) -> Manifest | None:
    """The manifest, or None when the run has none (archives written before it existed)."""
    path = Path(samples_dir) / MANIFEST_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return Manifest.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"{path}: not a loadray manifest: {exc}") from None
