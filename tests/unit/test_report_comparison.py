import re

from loadray.analysis import compare_summaries
from loadray.report.comparison import comparison_text, format_figure
from test_analysis_compare import summary


def test_text_table_has_both_runs_the_change_and_the_verdict():
    text = comparison_text(compare_summaries(summary(10.0), summary(15.0, error_rate=0.02), labels=("base", "new")))
    assert "base → new" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("latency p99 "))
    assert re.split(r"\s{2,}", line.strip()) == ["latency p99", "10.0ms", "15.0ms", "+5ms", "+50.0%"]
    rate = next(ln for ln in text.splitlines() if ln.startswith("error rate"))
    assert "+2 pts" in rate
    assert "✗ latency p99 increase <= 10%  (measured +50%)" in text
    assert "✗ error rate increase <= 1 percentage point  (measured +2 pts)" in text
    assert text.rstrip().endswith("FAILED")


def test_figures_in_their_units():
    assert [format_figure(v, u) for v, u in ((1234.0, "count"), (0.0123, "fraction"), (99.94, "req/s"),
                                             (4.5, "s"), (12.345, "ms"), (None, "ms"))] == [
        "1,234", "1.23%", "99.9/s", "4.500s", "12.3ms", "-"]


BASE_DOC = {"name": "smoke", "target": "http://127.0.0.1:8080", "load": {"phases": [{"duration": "10s", "rate": 200}]},
            "requests": [{"name": "a", "path": "/"}]}


def test_scenario_differences_are_listed_in_text_and_page():
    from loadray.analysis import scenario_differences
    from loadray.report.comparison import comparison_html

    new_doc = {**BASE_DOC, "load": {"phases": [{"duration": "10s", "rate": 400}]}, "workers": 4,
               "requests": [{"name": "a", "path": "/"}, {"name": "b"}]}
    assert scenario_differences(BASE_DOC, new_doc) == [
        "load.phases[0].rate: 200 → 400",
        "requests: [{'name': 'a', 'path': '/'}] → [{'name': 'a', 'path': '/'}, {'name': 'b'}]",
        "workers: (none) → 4",
    ]
    assert scenario_differences(BASE_DOC, dict(BASE_DOC)) == []
    c = compare_summaries(summary(10.0), summary(10.5), labels=("base", "new"), scenarios=(BASE_DOC, new_doc))
    text = comparison_text(c)
    assert "! the two runs' scenarios differ in 3 places: not like for like" in text
    assert "    load.phases[0].rate: 200 → 400" in text
    import pandas as pd

    frames = ("base", pd.DataFrame(), pd.DataFrame())
    page = comparison_html(c, frames, ("new", pd.DataFrame(), pd.DataFrame()))
    assert '<div class="warn">the two runs&#x27; scenarios differ in 3 places' in page
    assert "<code>load.phases[0].rate: 200 → 400</code>" in page
    same = compare_summaries(summary(10.0), summary(15.0), scenarios=(BASE_DOC, BASE_DOC))
    assert "differ" not in comparison_text(same)


def test_the_page_colours_each_gate_by_its_verdict():
    import pandas as pd

    from loadray.report.comparison import comparison_html

    c = compare_summaries(summary(10.0), summary(15.0, error_rate=0.001), labels=("base", "new"))
    frames = ("base", pd.DataFrame(), pd.DataFrame())
    page = comparison_html(c, frames, ("new", pd.DataFrame(), pd.DataFrame()))
    assert '<li class="bad">✗ latency p99 increase &lt;= 10%  (measured +50%)</li>' in page
    assert re.search(r'<li class="ok">✓ error rate increase &lt;= 1 percentage point', page)
    assert "ul.gates li.bad{background:#fde8e8}" in page
