"""Two short real runs of one scenario (CLI, embedded Ray, built-in target): the notebook
executes headless against them, and `loadray compare` passes on them and fails (99) on a
copy whose latencies are 50% worse."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cli_support import QUICKSTART, REPO

pytestmark = pytest.mark.ray  # starts Ray (the fast loop is -m 'not ray and not cluster')

# The target answers after a fixed 300 ms: p99 is the server's delay, not scheduling noise
# (a loaded CI lane stalls a run by up to ~100 ms: +150% on a 40 ms target, +33% on 300 ms).
SHORT = ["--set", "load.phases.0.duration=1s", "--set", "load.phases.1.duration=2s",
         "--set", "load.phases.2.duration=1s", "--set", "cluster.worker_cpus=0.5",
         "--set", "target.builtin.latency=300ms", "--set", "target.builtin.jitter=0ms",
         "--set", "thresholds.0=p99 < 1s"]
NOTEBOOK = REPO / "notebooks" / "analysis.ipynb"


def worse_copy(run: Path, out: Path, factor: float) -> Path:
    """A copy of ``run`` whose latencies and service times are ``factor`` times longer."""
    import pyarrow.compute as pc

    from loadray.archive import SampleSink, create_run_dir, read_samples

    table, meta = read_samples(run)
    for name in ("latency_ns", "service_ns"):
        scaled = pc.cast(pc.round(pc.multiply(pc.cast(table.column(name), "float64"), factor)), "int64")
        table = table.set_column(table.schema.get_field_index(name), name, scaled)
    create_run_dir(out)
    shutil.copy(run / "scenario.yaml", out / "scenario.yaml")
    sink = SampleSink(out / "samples", meta.start_ns)
    sink.write(0, table)
    sink.close(meta.end_ns)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from cli_support import loadray

    root = tmp_path_factory.mktemp("real")
    for name in ("base", "new"):
        done = loadray("run", QUICKSTART, "--out", root / name, "--quiet", *SHORT)
        assert done.returncode == 0, done.stderr
    worse = worse_copy(root / "new", root / "worse", 1.5)
    assert loadray("report", worse).returncode == 0
    return root


def test_notebook_executes_headless_against_a_real_run(runs):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {"LOADRAY_RUN_DIR": str(runs / "new"), "LOADRAY_BASE_RUN": str(runs / "base")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        NotebookClient(nb, timeout=180, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()  # raises on a cell error
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 3  # over time, spectrum, comparison
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"run: {runs / 'new'}" in printed and "gate:" in printed


def test_compare_passes_on_two_runs_of_one_scenario_and_fails_when_p99_is_50_percent_worse(runs, cli):
    # two real runs of a 300 ms target on a loaded lane: a generator starved for ~300 ms (CI
    # once: p99 306 -> 591 ms, +93%) is the machine, not the code under test
    same = cli("compare", runs / "base", runs / "new", "--max-p99-increase", "150%")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "PASSED" in same.stdout and "latency p99" in same.stdout
    worse = cli("compare", runs / "new", runs / "worse", "--html", runs / "compare.html")
    assert worse.returncode == 99, worse.stdout + worse.stderr
    assert "✗ latency p99 increase <= 10%" in worse.stdout and "FAILED" in worse.stdout
    page = (runs / "compare.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3 and "<script" not in page


def test_compare_bad_input_is_one_line_naming_the_path_or_flag(runs, cli, tmp_path):
    missing = cli("compare", runs / "base", tmp_path / "nope")
    assert missing.returncode == 2 and str(tmp_path / "nope") in missing.stderr
    assert missing.stderr.strip().count("\n") == 0
    flag = cli("compare", runs / "base", runs / "new", "--max-p99-increase", "lots")
    assert flag.returncode == 2 and "--max-p99-increase" in flag.stderr
    assert flag.stderr.strip().count("\n") == 0
