"""Error samples: for each error kind, the few most frequent ways it happened.

A way is one (error, step, HTTP status, ``error_detail``) combination among the
completed rows with an error (dropped, fenced and cut rows are accounting, not errors);
each comes with its count and when it first happened (intended time, seconds since the
start). Kinds are ordered most frequent first, as ``errors_by_kind``.

:class:`ErrorWays` folds every such combination batch by batch (the rows with an error
or a detail are few), which also gives the summary's ``error_details`` and the checks
that raised (see :mod:`.check_results`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from .arrays import UNNAMED_STEP, SampleArrays, error_kind
from .batch import Batch, Registry

__all__ = ["SAMPLES_PER_KIND", "ErrorWays", "error_samples"]

SAMPLES_PER_KIND = 3
_FIRST = np.iinfo(np.int64).max


class ErrorWays:
    """(error, step, status, detail, completed-with-error) -> [rows, first intended ns]
    over the rows with an error or a detail; codes are the registry's (-1: none)."""

    columns = frozenset({"error_detail"})

    def __init__(self) -> None:
        self.ways: dict[tuple[int, int, int, int, bool], list[int]] = {}

    def declare(self, stream) -> None:
        pass

    def require(self, stream) -> None:
        pass

    def warm(self, b: Batch) -> None:
        """The details' codes, coded on the pass's thread (:mod:`.side`)."""
        b.marked_details  # noqa: B018 (cached)

    def add(self, b: Batch) -> None:
        a = b.a
        rows = b.marked
        if rows.size == 0:
            return
        combos = [b.error[rows].astype(np.int64) + 1, b.step_keys[rows],
                  a.status[rows].astype(np.int64) + (1 << 15), b.marked_details.astype(np.int64) + 1,
                  a.error[rows].astype(np.int64)]
        sizes = [int(c.max()) + 1 for c in combos]
        if np.prod(np.array(sizes, dtype=float)) < 2.0**62:  # one int64 key: a 1-D unique
            packed = np.ravel_multi_index(combos, sizes)
            unique, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
            unique = np.stack(np.unravel_index(unique, sizes))
        else:
            unique, inverse, counts = np.unique(np.stack(combos), axis=1, return_inverse=True, return_counts=True)
        first = np.full(unique.shape[1], _FIRST)
        np.minimum.at(first, inverse.ravel(), a.intended_ns[rows])
        for combo, n, t in zip(unique.T.tolist(), counts.tolist(), first.tolist()):
            key = (combo[0] - 1, combo[1] - 1, combo[2] - (1 << 15), combo[3] - 1, bool(combo[4]))
            found = self.ways.setdefault(key, [0, _FIRST])
            found[0] += n
            found[1] = min(found[1], t)

    def samples(self, registry: Registry, start_ns: int, per_kind: int = SAMPLES_PER_KIND) -> list[dict[str, Any]]:
        """``[{kind, error, step, status, detail, count, first_s}]`` (module docstring)."""
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for (err, step, status, det, is_error), (n, t) in sorted(self.ways.items()):
            if not is_error:
                continue
            name = registry.errors.names[err]
            by_kind.setdefault(error_kind(name), []).append({
                "kind": error_kind(name), "error": name,
                "step": registry.steps.names[step] if step >= 0 else UNNAMED_STEP,
                "status": status, "detail": registry.details.names[det] if det >= 0 else None, "count": n,
                "first_s": round((t - start_ns) / 1e9, 3),
            })
        ranked = sorted(by_kind.values(), key=lambda ways: (-sum(w["count"] for w in ways), ways[0]["kind"]))
        return [w for ways in ranked for w in sorted(ways, key=lambda w: (-w["count"], w["first_s"]))[:per_kind]]

    def details(self, registry: Registry) -> dict[tuple[str, str], int]:
        """(error name or "", detail) -> rows, over the rows with a detail."""
        found: dict[tuple[str, str], int] = {}
        for (err, _, _, det, _), (n, _) in self.ways.items():
            if det >= 0:
                key = (registry.errors.names[err] if err >= 0 else "", registry.details.names[det])
                found[key] = found.get(key, 0) + n
        return found

    def raised(self, registry: Registry, error: str) -> dict[tuple[int, str | None], int]:
        """(step key, detail) -> rows of judged responses (status below 400; a gRPC OK is 0) that ended with
        ``error`` (``check_error``: a check raised; its detail names the check)."""
        found: dict[tuple[int, str | None], int] = {}
        for (err, step, status, det, is_error), (n, _) in self.ways.items():
            if is_error and status < 400 and err >= 0 and registry.errors.names[err] == error:
                key = (step + 1, registry.details.names[det] if det >= 0 else None)
                found[key] = found.get(key, 0) + n
        return found


def error_samples(data: pa.Table | SampleArrays, start_ns: int, per_kind: int = SAMPLES_PER_KIND) -> list[dict[str, Any]]:
    """``[{kind, error, step, status, detail, count, first_s}]`` (see the module docstring)."""
    from .stream import Stream, TableSource

    ways = ErrorWays()
    stream = Stream(TableSource(data))
    stream.run([ways])
    return ways.samples(stream.registry, start_ns, per_kind)
