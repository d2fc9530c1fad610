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
