"""Checks ``loadray run`` makes before anything starts (no Ray, no run directory yet)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from loadray.errors import UsageError


def check_out(out: Path) -> None:
    """``--out`` must be somewhere loadray can write: in the directory itself if it
    exists, else in its nearest existing parent. Whether it is empty is the archive's
    business (``create_run_dir``); this only makes a read-only place fail first."""
    folder = out if out.is_dir() else next((p for p in out.absolute().parents if p.is_dir()), None)
    if folder is None or out.exists() and not out.is_dir():
        return  # create_run_dir says what is wrong
    try:
        with tempfile.TemporaryFile(dir=folder):  # permission bits do not tell root the truth
            pass
    except OSError as exc:
        where = "" if folder == out else f" (in {folder})"
        raise UsageError(f"--out {out}: cannot write{where}: {exc.strerror or exc}") from None
