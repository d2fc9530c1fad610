"""Reports from an archived run: terminal text, summary.json, plots and a
self-contained HTML page, and the run-to-run comparison page.

Reads only the archive (never a live run), so ``loadray report RUN_DIR`` rebuilds
exactly what ``loadray run`` wrote. The only package that imports matplotlib (lazily,
Agg canvas only).
"""

from __future__ import annotations

from .build import rebuild, summary_for, thresholds_of
from .html import render_html
from .text import render_summary

__all__ = ["rebuild", "render_html", "render_summary", "summary_for", "thresholds_of"]
