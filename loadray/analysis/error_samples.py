"""Error samples: for each error kind, the few most frequent ways it happened.

A way is one (error, step, HTTP status, ``error_detail``) combination among the
completed rows with an error (dropped, fenced and cut rows are accounting, not errors);
each comes with its count and when it first happened (intended time, seconds since the
start). Kinds are ordered most frequent first, as ``errors_by_kind``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import UNNAMED_STEP, SampleArrays, as_arrays, error_kind

__all__ = ["SAMPLES_PER_KIND", "error_samples"]

SAMPLES_PER_KIND = 3


def _details(a: SampleArrays, rows: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Detail code of each of ``rows`` (-1: none) and the details by code."""
    if a.error_detail is None:
        return np.full(rows.size, -1, np.int64), []
    taken = a.error_detail.take(pa.array(rows))
    if not pa.types.is_dictionary(taken.type):
        taken = pc.dictionary_encode(taken.cast(pa.string()))
    codes = np.asarray(taken.indices.cast(pa.int64()).fill_null(-1))
    return codes, [None if d is None else str(d) for d in taken.dictionary.to_pylist()]


def error_samples(data: pa.Table | SampleArrays, start_ns: int, per_kind: int = SAMPLES_PER_KIND) -> list[dict[str, Any]]:
    """``[{kind, error, step, status, detail, count, first_s}]`` (see the module docstring)."""
    a = as_arrays(data)
    rows = np.flatnonzero(a.error)
    if rows.size == 0:
        return []
    detail, details = _details(a, rows)
    combos = np.stack([a.error_codes[rows].astype(np.int64), a.step_codes[rows].astype(np.int64),
                       a.status[rows].astype(np.int64), detail])
    unique, inverse, counts = np.unique(combos, axis=1, return_inverse=True, return_counts=True)
    first = np.full(unique.shape[1], np.iinfo(np.int64).max)
    np.minimum.at(first, inverse.ravel(), a.intended_ns[rows])
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for (err, step, status, det), n, t in zip(unique.T.tolist(), counts.tolist(), first.tolist()):
        name = a.error_names[err]
        by_kind.setdefault(error_kind(name), []).append({
            "kind": error_kind(name), "error": name, "step": a.step_names[step] if step >= 0 else UNNAMED_STEP,
            "status": status, "detail": details[det] if det >= 0 else None, "count": n,
            "first_s": round((t - start_ns) / 1e9, 3),
        })
    ranked = sorted(by_kind.values(), key=lambda ways: (-sum(w["count"] for w in ways), ways[0]["kind"]))
    return [w for ways in ranked for w in sorted(ways, key=lambda w: (-w["count"], w["first_s"]))[:per_kind]]
