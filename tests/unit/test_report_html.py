import base64
import functools
import re

import numpy as np
import pyarrow as pa

from loadray.analysis import overview, summarize
from loadray.archive.reader import RunMeta
from loadray.metric import Rule, Threshold
from loadray.report import render_html
from loadray.report.facts import run_facts
from loadray.report.figures import RUN_PLOTS, render_plots
from loadray.report.text import format_ms
from loadray.schema import SCHEMA, from_rows

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
    return from_rows(rows)


DOC = {"name": "smoke <script>alert(1)</script>", "target": "http://127.0.0.1:8080", "workers": 2,
       "load": {"model": "open", "phases": [{"duration": "3s", "rate": 100}]},
       "requests": [{"name": "root", "method": "GET", "path": "/"}],
       "thresholds": ["p99 < 1s"]}


def page_of(t, s, doc, start_ns, end_ns, info=None):
    folded = overview(t, start_ns, s["duration_s"])
    return render_html(s, folded, render_plots(folded), run_facts(s, doc, start_ns, end_ns, info), doc)


@functools.lru_cache(maxsize=1)  # one rendering serves every test (plots are slow to draw)
def render():
    t = table()
    s = summarize(t, RunMeta(START, START + 3 * S),
                  [Threshold("p99 < 1s", Rule.of("p99", "<", 1000.0)), Threshold("max < 10ms", Rule.of("max", "<", 10.0))], name=DOC["name"])
    return page_of(t, s, DOC, START, START + 3 * S, {"placement": [{"worker": 0, "node": "n1"}, {"worker": 1, "node": "n2"}],
                                                    "dead_workers": [1], "lost": 7,
                                                    "planned": 100, "rows": 90, "unknown": 3}), s


def test_self_contained_no_external_resources():
    page, _ = render()
    assert page.startswith("<!DOCTYPE html>")
    # no attribute that loads or links anything but inline data
    for attr, value in re.findall(r"""\b(src|href|action|poster|srcset)\s*=\s*["']?([^"'\s>]*)""", page, re.I):
        assert value.startswith("data:"), (attr, value)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    assert "url(" not in page


def test_has_every_plot_inline_as_png():
    page, _ = render()
    imgs = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == len(RUN_PLOTS) >= 6
    assert [alt for alt, _ in imgs] == [RUN_PLOTS[n][0] for n in ("rate", "latency", "service", "errors", "in_flight",
                                                                   "workers", "spectrum", "histogram")]
    for _, data in imgs:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")


def test_content_and_escaping():
    page, s = render()
    assert "smoke &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;root&lt;/b&gt;" in page and "<b>root</b>" not in page
    assert "p99 &lt; 1s" in page and "✓ pass" in page and "✗ fail" in page
    assert "FAILED" in page
    assert f"{s['intended']:,}" in page
    for section in ("thresholds", "requests", "latency", "over time", "distribution", "steps", "workers", "phases",
                    "outcomes", "run", "scenario"):
        assert f"<h2>{section}</h2>" in page
    assert "127.0.0.1:8080" in page  # as text, in the metadata
    assert "2023-11-14T22:13:20.000Z" in page and "2023-11-14T22:13:23.000Z" in page  # start, end
    assert "2 node(s), 2 worker actor(s) started" in page  # what the live run recorded
    assert "planned 100 requests = 90 with rows + 7 lost (never sent) + 3 unknown" in page
    assert '<td class="l">workers lost</td><td class="l">[1]</td>' in page
    assert "loadray 0.1.0" in page and "python 3." in page  # versions


def test_step_and_worker_tables_have_the_breakdown_numbers():
    page, s = render()
    steps = re.search(r"<h2>steps</h2>(.*?)</table>", page, re.S).group(1)
    rows = {r[0]: r for r in (re.findall(r"<td[^>]*>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", steps)) if r}
    assert set(rows) == {"api", "&lt;b&gt;root&lt;/b&gt;"}
    api_ms = np.array([(i % 50 + 1) * MS for i in range(0, 300, 2)])  # even rows are "api"
    assert rows["api"][:2] == ["api", "150"]
    assert rows["api"][6] == format_ms(round(np.percentile(api_ms, 50) / 1e6, 3)) == "25.0ms"
    assert rows["api"][8] == format_ms(round(np.percentile(api_ms, 99) / 1e6, 3))
    workers = re.search(r"<h2>workers</h2>(.*?)</table>", page, re.S).group(1)
    assert len(re.findall(r"<tr>", workers)) == 3


def test_empty_run_still_renders_every_plot():
    empty = SCHEMA.empty_table()
    s = summarize(empty, None)
    page = page_of(empty, s, {}, None, None)
    assert page.count('src="data:image/png;base64,') == len(RUN_PLOTS)
    assert "no thresholds" in page


def test_flows_table_checks_and_retries():
    from test_analysis_summary import flow_rows

    t = from_rows(flow_rows())
    s = summarize(t, None, name="flows")
    page = render_html(s, overview(t, None, s["duration_s"]), {})
    flows = page[page.index("<h2>flows</h2>"):]
    flows = flows[: flows.index("</table>")]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", flows)
    assert cells[:4] == ["checkout", "4", "2", "2"] and cells[cells.index("health"):][:4] == ["health", "1", "0", "1"]
    assert format_ms(s["flows"]["checkout"]["flow_ms"]["p99"]) in cells
    assert re.search(r"<th[^>]*>retries</th>", page) and re.search(r"<th[^>]*>flows/s</th>", page)
    assert re.search(r"<th[^>]*>achieved requests/s</th>", page) and "counts flows per second" in page
    # without check_results (the plan): the failures by check, passes unknown
    checks = page[page.index("<h2>checks</h2>"):]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", checks[: checks.index("</table>")])
    assert cells[:7] == ['<span class="bad">✗</span>', "", "status is 200", "-", "2", "0", "-"]
    plain = render()[0]
    assert "<h2>flows</h2>" not in plain and "<h2>checks</h2>" not in plain and "flows/s" not in plain
