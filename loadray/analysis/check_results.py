"""Checks passed and failed, per step and check (what k6 prints as ``checks``).

A failed check leaves its name in the row (error ``check:<name>``); a passed one leaves
nothing, so the pass counts need the scenario's checks: ``plan`` maps a step (as the
rows name it) to its check names in the order the engine evaluates them
(:func:`loadray.flow.checks.compile_checks`). The engine judges a response (status
below 400, no transport error) by its checks in order and stops at the first that
fails (``check:<name>``) or raises (``check_error``, its ``error_detail`` starting with
``<name>: ``); a check is then

- **passed** by every judged row that got past it: no error, or a failure or an error
  at a later check, or an extraction that failed after all checks passed;
- **failed** by the rows named ``check:<it>``; **errors**: the rows where it raised.

Failed checks the plan does not know (an older scenario) are listed with ``passed`` None.
The counts come from the pass's :class:`~.counts.Counts` (judged rows per step and
error) and :class:`~.error_samples.ErrorWays` (the details of the checks that raised).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .arrays import CHECK_PREFIX, UNNAMED_STEP, SampleArrays
from .batch import Registry
from .counts import JUDGED_KINDS, Counts
from .error_samples import ErrorWays

__all__ = ["JUDGED_KINDS", "check_results", "checks_of"]

CHECK_ERROR = JUDGED_KINDS[0]


def _raised_at(raised: dict[tuple[int, str | None], int], key: int, checks: Sequence[str]) -> list[int]:
    """How many judged ``check_error`` rows of step ``key`` raised at each check."""
    counts = [0] * len(checks)
    for (step, detail), n in raised.items():
        if step != key or detail is None:
            continue
        for j, name in enumerate(checks):
            if detail.startswith(f"{name}: "):
                counts[j] += n
                break
    return counts


def checks_of(counts: Counts, ways: ErrorWays, registry: Registry,
              plan: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """``[{step, check, passed, failed, errors}]``: the plan's checks in its order, then
    failed checks it does not know (see the module docstring)."""
    names = registry.step_labels()
    width = len(registry.errors) + 1
    cells = counts.judged(registry, ways)
    error_index = {n: i + 1 for i, n in enumerate(registry.errors.names)}
    raised = ways.raised(registry, CHECK_ERROR)
    out, known = [], set()
    for step, checks in plan.items():
        key = names.index(step) if step in names else None
        row = cells[key] if key is not None else np.zeros(width, np.int64)
        failed = [int(row[error_index[CHECK_PREFIX + c]]) if CHECK_PREFIX + c in error_index else 0 for c in checks]
        errors = _raised_at(raised, key, checks) if key is not None else [0] * len(checks)
        left = int(row.sum())
        for check, bad, err in zip(checks, failed, errors):
            left -= bad + err
            out.append({"step": step, "check": check, "passed": left, "failed": bad, "errors": err})
            known.add((step, check))
    out.extend(_unplanned(names, cells, registry.errors.names, known))
    return out


def _unplanned(names: list[str], counts: np.ndarray, errors: list[str], known: set) -> list[dict[str, Any]]:
    found = []
    for e, name in enumerate(errors, start=1):
        if not name.startswith(CHECK_PREFIX):
            continue
        check = name[len(CHECK_PREFIX):] or UNNAMED_STEP
        for key in np.flatnonzero(counts[:, e]).tolist():
            if (names[key], check) not in known:
                found.append({"step": names[key], "check": check, "passed": None, "failed": int(counts[key, e]),
                              "errors": 0})
    return sorted(found, key=lambda r: (r["step"], r["check"]))


def check_results(data: pa.Table | SampleArrays, plan: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """:func:`checks_of` an in-memory table."""
    from .stream import Stream, TableSource

    counts, ways = Counts(), ErrorWays()
    stream = Stream(TableSource(data))
    stream.run([counts, ways])
    return checks_of(counts, ways, stream.registry, plan)
