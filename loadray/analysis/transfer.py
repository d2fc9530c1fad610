"""Bytes received (the ``bytes_in`` column: response body bytes) and HTTP status codes,
per step: what k6 calls ``data_received`` and Gatling its response codes per request.

Pure: sample arrays in, plain dicts and frames out. Steps are named as in the summary
(a null step is :data:`~loadray.analysis.arrays.UNNAMED_STEP`), in name order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .arrays import UNNAMED_STEP, SampleArrays, as_arrays, bincount

__all__ = ["bytes_in", "status_by_step"]


def _steps(a: SampleArrays) -> tuple[np.ndarray, list[str]]:
    """Step key of every row (0 = null step, else code + 1) and the names by key."""
    return a.step_codes.astype(np.int64) + 1, [UNNAMED_STEP, *a.step_names]


def _rate(total: int, duration_s: float | None) -> float:
    return round(total / duration_s, 3) if duration_s else 0.0


def bytes_in(data: pa.Table | SampleArrays, duration_s: float | None) -> dict[str, Any]:
    """``{"total", "per_s", "steps": {step: {"total", "per_s", "per_response"}}}``:
    body bytes received over the run and per step; ``per_response`` is the mean over the
    step's completed requests that got an HTTP response. {} when the rows lack the column."""
    a = as_arrays(data)
    if a.bytes_in is None:
        return {}
    keys, names = _steps(a)
    totals = np.bincount(keys, weights=a.bytes_in, minlength=len(names))
    responses = bincount(keys[a.completed & (a.status > 0)], minlength=len(names))
    rows = bincount(keys, minlength=len(names))
    steps = {}
    for key in sorted(np.flatnonzero(rows).tolist(), key=lambda k: names[k]):
        total = int(totals[key])
        steps[names[key]] = {
            "total": total,
            "per_s": _rate(total, duration_s),
            "per_response": round(total / responses[key], 1) if responses[key] else None,
        }
    total = int(totals.sum())
    return {"total": total, "per_s": _rate(total, duration_s), "steps": steps}


def status_by_step(data: pa.Table | SampleArrays) -> pd.DataFrame:
    """Completed requests per step (index, by name) and HTTP status (columns, ascending,
    as text; ``"0"`` = no HTTP response), empty columns left out."""
    a = as_arrays(data)
    keys, names = _steps(a)
    done = a.completed
    status = np.clip(a.status[done].astype(np.int64), 0, 999)
    cells = bincount(keys[done] * 1000 + status, minlength=len(names) * 1000)[: len(names) * 1000]
    counts = cells.reshape(len(names), 1000)
    order = sorted(np.flatnonzero(counts.sum(axis=1)).tolist(), key=lambda k: names[k])
    codes = np.flatnonzero(counts.sum(axis=0))
    return pd.DataFrame(counts[np.ix_(order, codes)], index=pd.Index([names[k] for k in order], name="step"),
                        columns=pd.Index([str(c) for c in codes], name="status"))
