"""The run directory: creating it, and the small files in it.

Layout (DESIGN.md §3)::

    <run_dir>/scenario.yaml   resolved scenario, secrets already redacted by the caller
    <run_dir>/samples/        Parquet dataset, one file series per worker (see sink.py)
    <run_dir>/summary.json    written by loadray.report.build.rebuild
    <run_dir>/report.html     written by loadray.report.build.rebuild
    <run_dir>/plots/*.png     the report's plots, written by loadray.report.build.rebuild

Every whole-file write is atomic (temp file in the same directory + rename), so a reader
never sees half a summary and an interrupted rewrite leaves the old file in place.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from loadray.errors import ArchiveError

from .diskspace import reraise_disk_error

__all__ = [
    "RUNS_DIR",
    "SCENARIO_FILE",
    "SAMPLES_DIR",
    "SUMMARY_FILE",
    "REPORT_FILE",
    "PLOTS_DIR",
    "default_run_dir",
    "create_run_dir",
    "write_scenario",
    "read_scenario_doc",
    "write_summary",
    "read_summary",
    "scenario_from_text",
    "summary_json",
    "write_bytes_atomic",
    "write_text_atomic",
    "replace_file",
]

RUNS_DIR = "runs"
SCENARIO_FILE = "scenario.yaml"
SAMPLES_DIR = "samples"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
PLOTS_DIR = "plots"
#: Optional facts the run recorded about itself (nodes, versions...), shown by the report.

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_name(name: str) -> str:
    """A scenario name usable as one path component ("my api/v2" -> "my-api-v2")."""
    cleaned = _UNSAFE.sub("-", str(name)).strip("-.")
    return cleaned or "run"


def default_run_dir(name: str, now: datetime | None = None) -> Path:
    """``runs/<UTC %Y%m%dT%H%M%SZ>-<name>`` (relative to the current directory).

    ``now`` defaults to the current time; a naive datetime is taken as UTC. Characters
    of ``name`` that are unsafe in a file name become ``-``.
    """
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(RUNS_DIR) / f"{stamp}-{_safe_name(name)}"


def create_run_dir(path: str | os.PathLike[str]) -> Path:
    """Create the run directory (and its parents); an existing *empty* directory is fine.

    Raises :class:`ArchiveError` if ``path`` exists and is a file or a non-empty
    directory; nothing that is already there is touched.
    """
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=False)
        return p
    except FileExistsError:
        pass
    except OSError as exc:
        reraise_disk_error(exc, p, "cannot create the run directory")
        raise ArchiveError(f"--out {p}: cannot create: {exc.strerror or exc}") from None
    if not p.is_dir():
        raise ArchiveError(f"--out {p}: already exists and is not a directory")
    try:
        empty = next(p.iterdir(), None) is None
    except OSError as exc:
        raise ArchiveError(f"--out {p}: cannot read: {exc.strerror or exc}") from None
    if not empty:
        raise ArchiveError(f"--out {p}: already exists and is not empty")
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temp file in the same dir + rename."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same dir + rename.

    A full disk (or quota, or I/O error) raises :class:`DiskError` (exit 1, one line)
    and leaves the previous file, if any, in place."""
    try:
        return replace_file(path, data)
    except OSError as exc:
        reraise_disk_error(exc, Path(path).parent, f"could not write {Path(path).name}")
        raise


def replace_file(path: str | os.PathLike[str], data: bytes) -> Path:
    """:func:`write_bytes_atomic` without the error mapping: OSError passes through."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; archives are shared
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return p


def write_scenario(run_dir: str | os.PathLike[str], doc: dict[str, Any]) -> Path:
    """Write the resolved (already redacted) scenario document as ``scenario.yaml``."""
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return write_text_atomic(Path(run_dir) / SCENARIO_FILE, text)


def read_scenario_doc(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The document stored in ``scenario.yaml``; ArchiveError if missing or unreadable."""
    p = Path(run_dir) / SCENARIO_FILE
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArchiveError(f"{p}: not found (not a loadray run directory?)") from None
    except OSError as exc:
        raise ArchiveError(f"{p}: cannot read: {exc.strerror or exc}") from None
    return scenario_from_text(text, str(p))


def scenario_from_text(text: str, where: str) -> dict[str, Any]:
    """The document of a ``scenario.yaml``'s text (``where`` names it in errors)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ArchiveError(f"{where}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ArchiveError(f"{where}: expected a mapping at the top level")
    return doc


def _json_default(obj: Any) -> Any:
    # numpy scalars sneak into dicts easily; store them as plain JSON numbers.
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def summary_json(summary: dict[str, Any]) -> str:
    """The text of ``summary.json`` (indent 2, key order kept)."""
    return json.dumps(summary, indent=2, ensure_ascii=False, default=_json_default, allow_nan=False) + "\n"


def write_summary(run_dir: str | os.PathLike[str], summary: dict[str, Any]) -> Path:
    """Write ``summary.json`` atomically."""
    return write_text_atomic(Path(run_dir) / SUMMARY_FILE, summary_json(summary))


def _read_json(p: Path, missing: str) -> Any:
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArchiveError(f"{p}: not found{missing}") from None
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{p}: cannot read: {exc}") from None


def read_summary(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    return _read_json(Path(run_dir) / SUMMARY_FILE, f" (run `loadray report {run_dir}` to rebuild it)")


