"""The report's charts: every time panel spans the run on the same axes box (they line
up on the page), intended is drawn over achieved, equal worker lines stay visible, the
colour of an outcome never changes, phases are numbered from 1."""

import numpy as np
import pytest
from matplotlib.colors import to_hex

from loadray.analysis import overview
from loadray.report import palette
from loadray.report.figures import PLOT_SECTIONS, RUN_PLOTS
from loadray.report.plots import errors_figure, rate_figure, workers_figure
from test_analysis_report_figures import START, table

TIME_PLOTS = PLOT_SECTIONS[0][1]


def run_rows():
    """2 workers at 100/s each for 4.3 s (the run was stopped at 4.3 s), a few errors,
    dropped and cut rows, two phases."""
    rows = []
    for k in range(860):
        at = k * 5.0
        error = "http_5xx" if k % 50 == 7 else "dropped" if k % 90 == 3 else "cut" if k == 859 else None
        rows.append({"at": at, "step": "a", "error": error, "status": 500 if error == "http_5xx" else 0 if error else 200})
    t = table(rows)
    worker = np.arange(len(rows)) % 2
    phase = (np.arange(len(rows)) >= 400).astype(np.int16)
    import pyarrow as pa

    t = t.set_column(t.column_names.index("worker"), "worker", pa.array(worker.astype(np.int16)))
    return t.set_column(t.column_names.index("phase"), "phase", pa.array(phase))


@pytest.fixture(scope="module")
def folded():
    return overview(run_rows(), START, 4.3)


def test_every_time_panel_spans_the_run_on_the_same_axes_box(folded):
    boxes, limits = set(), set()
    for name in TIME_PLOTS:
        fig = RUN_PLOTS[name][1](folded, [])
        ax = fig.axes[0]
        boxes.add(tuple(np.round(ax.get_position().bounds, 6)))
        limits.add(ax.get_xlim())
        assert tuple(fig.get_size_inches()) == (10.0, 3.4)
    assert len(boxes) == 1 and len(limits) == 1
    assert limits.pop() == (0.0, 4.3)


def test_the_errors_panel_of_a_run_without_errors_spans_the_run(folded):
    fig = errors_figure(folded.errors.iloc[:, :0], 1.0, end_s=20.0)
    assert fig.axes[0].get_xlim() == (0.0, 20.0)


def test_intended_is_drawn_over_achieved_and_the_last_partial_second_is_not_a_dip(folded):
    ax = rate_figure({"": folded.series}, 1.0, folded.phase_starts, end_s=4.3).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    achieved, intended = lines["achieved requests/s"], lines["intended requests/s"]
    assert intended.get_zorder() > achieved.get_zorder()
    assert intended.get_linewidth() < achieved.get_linewidth() and intended.get_linestyle() != "-"
    x, y = achieved.get_data()
    assert x[-1] == pytest.approx(4.3)  # the last bucket is drawn as wide as it lasted
    assert min(y) > 180  # 200/s all along (less the dropped), no dip in the last 0.3 s
    assert "last 0.3 s: per second of that part" in ax.get_title(loc="left")
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["phase 1", "phase 2"]


def test_equal_worker_lines_are_nested_not_hidden(folded):
    ax = workers_figure(folded.worker_rates, 1.0, 4.3).axes[0]
    first, second = ax.get_lines()
    assert first.get_linewidth() > second.get_linewidth() + 1.5  # the second shows inside the first
    assert second.get_zorder() > first.get_zorder() and second.get_linestyle() != first.get_linestyle()
    assert to_hex(first.get_color()) != to_hex(second.get_color())


def test_outcome_colours_are_fixed():
    assert palette.kind_colors(["http_5xx", "dropped", "timeout", "fenced", "cut", "ok"]) == [
        palette.ERROR, palette.DROPPED, palette.ERROR_SHADES[1], palette.FENCED, palette.CUT, palette.OK]
    assert palette.DROPPED != palette.OK and palette.OK == "#1a7f37"


def test_the_errors_panel_draws_dropped_grey_and_errors_red(folded):
    assert set(folded.errors.columns) == {"http_5xx", "dropped", "cut"}
    assert palette.stack_order({"cut": 1, "dropped": 5, "timeout": 2, "http_5xx": 9}) == \
        ["http_5xx", "timeout", "dropped", "cut"]
    ax = errors_figure(folded.errors, 1.0, 4.3).axes[0]
    faces = [to_hex(c.get_facecolor()[0]) for c in ax.collections]
    assert faces == [palette.ERROR, palette.DROPPED, palette.CUT]
