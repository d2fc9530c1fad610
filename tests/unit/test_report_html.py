import base64
import re

import pyarrow as pa

from loadray.analysis import per_second, summarize
from loadray.archive.reader import RunMeta
from loadray.report import render_html
from loadray.scenario.model import Threshold
from loadray.schema import SCHEMA

MS = 1_000_000
S = 1_000_000_000
START = 1_700_000_000_000_000_000


def table():
    rows = []
    for i in range(300):
        err = "timeout" if i % 37 == 0 else None
        rows.append({"intended_ns": START + i * 10 * MS, "sent_ns": START + i * 10 * MS + 1000,
                     "latency_ns": (i % 50 + 1) * MS, "service_ns": (i % 50 + 1) * MS - 1000,
                     "status": 0 if err else 200, "error": err, "step": "<b>root</b>" if i % 2 else "api",
                     "phase": i // 150, "worker": i % 2, "bytes_in": 10})
    return pa.Table.from_pylist(rows, schema=SCHEMA)


DOC = {"name": "smoke <script>alert(1)</script>", "target": "http://127.0.0.1:8080", "workers": 2,
       "load": {"model": "open", "phases": [{"duration": "3s", "rate": 100}]},
       "requests": [{"name": "root", "method": "GET", "path": "/"}],
       "thresholds": ["p99 < 1s"]}


def render():
    t = table()
    meta = RunMeta(START, START + 3 * S)
    s = summarize(t, meta, [Threshold("p99 < 1s", "p99", "<", 1000.0), Threshold("max < 10ms", "max", "<", 10.0)],
                  name=DOC["name"])
    return render_html(s, per_second(t, START), DOC), s


def test_self_contained_no_external_resources():
    page, _ = render()
    assert page.startswith("<!DOCTYPE html>")
    # no attribute that loads or links anything but inline data
    for attr, value in re.findall(r"""\b(src|href|action|poster|srcset)\s*=\s*["']?([^"'\s>]*)""", page, re.I):
        assert value.startswith("data:"), (attr, value)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    assert "url(" not in page


def test_has_two_inline_png_plots():
    page, _ = render()
    imgs = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) >= 2
    for data in imgs:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")


def test_content_and_escaping():
    page, s = render()
    assert "smoke &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;root&lt;/b&gt;" in page and "<b>root</b>" not in page
    assert "p99 &lt; 1s" in page and "✓ pass" in page and "✗ fail" in page
    assert "FAILED" in page
    assert f"{s['intended']:,}" in page
    for section in ("thresholds", "requests", "latency", "steps", "phases", "over time", "scenario"):
        assert f"<h2>{section}</h2>" in page
    assert "127.0.0.1:8080" in page  # as text, in the metadata


def test_empty_run_still_renders_two_plots():
    empty = SCHEMA.empty_table()
    s = summarize(empty, None)
    page = render_html(s, per_second(empty, None), {})
    assert page.count('src="data:image/png;base64,') >= 2
    assert "no thresholds" in page
