"""What loadray hands to other tools: a run's rows as CSV or JSON lines
(:func:`export_rows`), its threshold verdicts as JUnit XML (:func:`junit_xml`).

Names are imported lazily: the CLI's parser reads :data:`FORMATS` without loading
pyarrow (``loadray validate`` stays small)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loadray._lazy import lazy_exports

__all__ = ["BATCH_ROWS", "FORMATS", "export_rows", "junit_xml", "pick_columns"]

FORMATS = ("csv", "jsonl")

_LAZY = {
    "BATCH_ROWS": "loadray.export.rows",
    "export_rows": "loadray.export.rows",
    "pick_columns": "loadray.export.rows",
    "junit_xml": "loadray.export.junit",
}

if TYPE_CHECKING:  # pragma: no cover
    from loadray.export.junit import junit_xml
    from loadray.export.rows import BATCH_ROWS, export_rows, pick_columns

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
