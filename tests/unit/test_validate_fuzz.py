"""Fuzz acceptance test: a few hundred seeded mutations of ``scenarios/*.yaml`` through
``loadray validate`` in-process (the CLI's own ``main``): every case validates (exit 0)
or exits 2 with exactly one line on stderr, within 5 s and under 200 MB each; never
exit 1, never a traceback. (tests/e2e/test_validate_fuzz_cli.py runs a sample of the
same cases through a real ``python -m loadray`` process.)"""

from __future__ import annotations

import contextlib
import io
import re
import time
from pathlib import Path

import pytest

from fuzz_scenarios import KINDS, cases, workspace
from loadray.cli.main import main

COUNT = 510  # 30 of each kind
MAX_SECONDS = 5.0
MAX_GROWTH_MB = 200.0


def _peak_reset() -> bool:
    """Reset this process's peak RSS (VmHWM); False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _kb(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def _validate(path: Path) -> tuple[int, str, float, float]:
    """Exit code, stderr, seconds, and the peak RSS growth in MB (0 if unknown)."""
    measured = _peak_reset()
    before = _kb("VmRSS") if measured else 0
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["validate", str(path)])
            code = 0
        except SystemExit as exit_:
            code = exit_.code
    seconds = time.perf_counter() - start
    growth = (_kb("VmHWM") - before) / 1024 if measured else 0.0
    return code, err.getvalue(), seconds, growth


def test_every_mutation_validates_or_is_one_line_exit_2(tmp_path):
    folder = workspace(tmp_path)
    started = time.perf_counter()
    outcomes: dict[str, int] = {}
    failures = []
    worst_s, worst_mb = 0.0, 0.0
    for case in cases(COUNT):
        path = folder / f"{case.name}.yaml"
        path.write_bytes(case.data)
        code, err, seconds, growth = _validate(path)
        path.unlink()
        worst_s, worst_mb = max(worst_s, seconds), max(worst_mb, growth)
        outcomes[f"exit {code}"] = outcomes.get(f"exit {code}", 0) + 1
        lines = err.splitlines()
        good = (code == 0 and not err) or (code == 2 and len(lines) == 1 and "error:" in lines[0])
        if not good or "Traceback" in err or seconds > MAX_SECONDS or growth > MAX_GROWTH_MB:
            failures.append(f"{case.name}: exit {code}, {seconds:.1f}s, +{growth:.0f}MB: {err[:300]!r}")
    total = time.perf_counter() - started
    print(f"{COUNT} cases in {total:.1f}s, {outcomes}, slowest {worst_s:.2f}s, peak +{worst_mb:.0f}MB")
    assert not failures, "\n".join(failures)
    assert outcomes.get("exit 2", 0) > COUNT // 2  # the mutations do break scenarios
    assert outcomes.get("exit 0", 0) > 0  # and some still validate (deleting an optional key)
    assert total < 60


def test_the_cases_are_fixed_by_the_seed_and_cover_every_kind():
    first, again = cases(len(KINDS) * 2), cases(len(KINDS) * 2)
    assert first == again
    assert {c.name.split("-")[1] for c in first} == set(KINDS)


@pytest.mark.parametrize("kind", ["alias_bomb", "deep_flow", "big_file", "long_digits"])
def test_the_dangerous_kinds_fail_fast(tmp_path, kind):
    """The kinds that hung, crashed or ate memory before (issue 10, item 3)."""
    folder = workspace(tmp_path)
    for case in [c for c in cases(len(KINDS) * 3) if f"-{kind}-" in c.name]:
        path = folder / f"{case.name}.yaml"
        path.write_bytes(case.data)
        code, err, seconds, growth = _validate(path)
        assert (code, err) == (0, "") or (code == 2 and err.count("\n") == 1), (case.name, err)
        assert seconds < 2.0, (case.name, seconds)
