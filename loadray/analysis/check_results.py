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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from .arrays import CHECK_PREFIX, UNNAMED_STEP, SampleArrays, as_arrays, bincount

__all__ = ["JUDGED_KINDS", "check_results"]

# == loadray.flow.checks.CHECK_ERROR, loadray.flow.extract's kind, loadray.engine.errors.INTERNAL
CHECK_ERROR = "check_error"
JUDGED_KINDS = (CHECK_ERROR, "extract", "internal")  # errors a judged response can end with


def _judged(a: SampleArrays) -> np.ndarray:
    """Rows whose response went through the step's checks."""
    judged_codes = [i for i, n in enumerate(a.error_names) if n.startswith(CHECK_PREFIX) or n in JUDGED_KINDS]
    allowed = (a.error_codes < 0) | np.isin(a.error_codes, judged_codes)
    return a.completed & (a.status > 0) & (a.status < 400) & allowed


def _raised_at(a: SampleArrays, rows: np.ndarray, checks: Sequence[str]) -> list[int]:
    """How many of ``rows`` (check_error rows) raised at each check, by detail prefix."""
    counts = [0] * len(checks)
    if a.error_detail is None or rows.size == 0:
        return counts
    for detail in a.error_detail.take(pa.array(rows)).to_pylist():
        for j, name in enumerate(checks):
            if detail is not None and str(detail).startswith(f"{name}: "):
                counts[j] += 1
                break
    return counts


def check_results(data: pa.Table | SampleArrays, plan: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """``[{step, check, passed, failed, errors}]``: the plan's checks in its order, then
    failed checks it does not know (see the module docstring)."""
    a = as_arrays(data)
    names = [UNNAMED_STEP, *a.step_names]
    keys = a.step_codes.astype(np.int64) + 1
    judged = _judged(a)
    width = len(a.error_names) + 1
    cells = bincount(keys[judged] * width + a.error_codes[judged].astype(np.int64) + 1, minlength=len(names) * width)
    counts = cells[: len(names) * width].reshape(len(names), width)
    error_index = {n: i + 1 for i, n in enumerate(a.error_names)}
    out, known = [], set()
    for step, checks in plan.items():
        key = names.index(step) if step in names else None
        row = counts[key] if key is not None else np.zeros(width, np.int64)
        failed = [int(row[error_index[CHECK_PREFIX + c]]) if CHECK_PREFIX + c in error_index else 0 for c in checks]
        raised = [0] * len(checks)
        if key is not None and CHECK_ERROR in error_index:
            raising = judged & (keys == key) & (a.error_codes == error_index[CHECK_ERROR] - 1)
            raised = _raised_at(a, np.flatnonzero(raising), checks)
        left = int(row.sum())
        for check, bad, err in zip(checks, failed, raised):
            left -= bad + err
            out.append({"step": step, "check": check, "passed": left, "failed": bad, "errors": err})
            known.add((step, check))
    out.extend(_unplanned(names, counts, a.error_names, known))
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
