"""What loadray hands to other tools: a run's rows as CSV or JSON lines
(:func:`export_rows`), its threshold verdicts as JUnit XML (:func:`junit_xml`)."""

from loadray.export.junit import junit_xml
from loadray.export.rows import BATCH_ROWS, FORMATS, export_rows, pick_columns

__all__ = ["BATCH_ROWS", "FORMATS", "export_rows", "junit_xml", "pick_columns"]
