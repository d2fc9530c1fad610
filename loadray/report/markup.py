"""HTML building blocks shared by the run report and the comparison page: the page
shell with inline CSS, escaped tables, and PNG images inlined as data URIs.

Nothing here references anything outside the page: no scripts, fonts, stylesheets or
links (it opens offline, from an email or a CI artifact).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable
from typing import Any

__all__ = ["Raw", "e", "figure_block", "img", "num", "page", "png_bytes", "table"]

CSS = """
body{font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1d232a;background:#fff;margin:0;padding:24px 32px;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #e3e6ea;padding-bottom:4px}
h3{font-size:14px;margin:18px 0 4px;color:#3b4650}
.meta{color:#5b6670;margin:0 0 12px}.meta span{margin-right:18px}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;font-size:13px;vertical-align:middle;margin-left:8px}
.pass{background:#e3f6e8;color:#146c2e}.fail{background:#fde8e8;color:#a11a1a}.none{background:#eef0f2;color:#5b6670}
table{border-collapse:collapse;margin:4px 0 8px}th,td{padding:4px 12px;text-align:right;border-bottom:1px solid #eef0f2;white-space:nowrap}
th{font-weight:600;color:#3b4650;background:#f7f8fa}td.l,th.l{text-align:left}
.ok{color:#146c2e;font-weight:600}.bad{color:#a11a1a;font-weight:600}
ul.gates{list-style:none;padding-left:0}ul.gates li{padding:3px 10px;margin:3px 0;border-radius:4px}
ul.gates li.ok{background:#e3f6e8}ul.gates li.bad{background:#fde8e8}
.warn{background:#fff7e0;border-left:4px solid #e0a800;padding:6px 10px;margin:6px 0}
img{max-width:100%;height:auto;display:block;margin:8px 0}
pre{background:#f7f8fa;padding:10px;overflow:auto;font-size:12px}
.wide{overflow-x:auto}
"""


class Raw(str):
    """Markup that :func:`e` (and so :func:`table`) leaves as it is: build it only from
    constants and escaped text."""


def e(value: Any) -> str:
    """HTML-escaped text of ``value`` ('' for None); :class:`Raw` markup unchanged."""
    if isinstance(value, Raw):
        return str(value)
    return html.escape("" if value is None else str(value), quote=True)


def num(value: Any) -> str:
    """A count with thousands separators; '-' for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{int(value):,}"


def table(headers: Iterable[Any], rows: Iterable[Iterable[Any]], left: int = 1) -> str:
    """A table; the first ``left`` columns are left-aligned. Cells are escaped. No header
    row when every header is empty."""

    def cells(values: Iterable[Any], tag: str) -> str:
        return "".join(
            f'<{tag} class="l">{e(v)}</{tag}>' if i < left else f"<{tag}>{e(v)}</{tag}>" for i, v in enumerate(values)
        )

    headers = list(headers)
    head = f"<thead><tr>{cells(headers, 'th')}</tr></thead>" if any(str(h) for h in headers) else ""
    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    return f'<div class="wide"><table>{head}<tbody>{body}</tbody></table></div>'


def png_bytes(fig: Any) -> bytes:
    """A figure (already on an Agg canvas) as PNG bytes, with no timestamp in them; the
    figure's own size and margins are kept (no tight crop), so the plots of a page line up."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def img(png: bytes, alt: str) -> str:
    """An <img> with the PNG inlined as a base64 data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{e(alt)}" src="data:image/png;base64,{data}">'


def figure_block(png: bytes, alt: str) -> str:
    return f"<figure>{img(png, alt)}</figure>"


def page(title: str, body: Iterable[str]) -> str:
    """The whole document around ``body`` (already-escaped HTML fragments)."""
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<style>{CSS}</style></head><body>",
    ]
    return "\n".join([*head, *body, "</body></html>"]) + "\n"
