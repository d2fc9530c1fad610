"""The countable figures of a run, folded batch by batch: row classes per step and per
phase, errors by name, HTTP statuses, workers, retries, body bytes per step, the first
and last intended send, and the judged rows per step (with the errors' ways of
:class:`~.error_samples.ErrorWays`: per step and error, for the checks).

Row classes as in :mod:`loadray.analysis.arrays`: dropped, cut, error, ok (exclusive).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .arrays import CHECK_PREFIX, CLASSES, row_class
from .batch import Batch, Registry
from .tally import Tally

if TYPE_CHECKING:
    from .error_samples import ErrorWays

__all__ = ["Counts", "JUDGED_KINDS"]

# == loadray.flow.checks.CHECK_ERROR, loadray.flow.extract's kind, loadray.engine.errors.INTERNAL
JUDGED_KINDS = ("check_error", "extract", "internal")  # errors a judged response can end with


class Counts:
    """The fold (see the module docstring)."""

    columns = frozenset({"bytes_in", "attempt"})

    def __init__(self) -> None:
        self.pairs = Tally(2)  # ((step, phase) pair code, class)
        self.errors, self.statuses = Tally(), Tally()
        self.bytes, self.responses = Tally(float_sums=True), Tally()
        self.judged_ok = Tally()  # step key of ok rows whose response was judged (status below 400; a gRPC OK is 0)
        self.retries = 0
        self.has_bytes = False
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.ends = True  # fold the first and last intended send (unless the source knows them)

    def declare(self, stream) -> None:
        known = stream.source.value_range("intended_ns")
        if known is not None:
            self.first_ns, self.last_ns = known
            self.ends = False

    def require(self, stream) -> None:
        pass

    def warm(self, b: Batch) -> None:
        """What :meth:`add` reads of the registry, coded on the pass's thread (:mod:`.side`)."""
        if b.a.n:
            b.pair_keys  # noqa: B018 (cached)
            b.registry.workers.see(b.a.worker)

    def add(self, b: Batch) -> None:
        """One batch (after :meth:`warm`; called on the side thread when a summary's fold is)."""
        a = b.a
        if not a.n:
            return
        self._classes(b)
        self.errors.add(b.error[b.error >= 0])
        self.statuses.add_dense(np.bincount(a.status.view(np.uint16)[a.completed]))
        self.retries += int(np.count_nonzero(a.attempt > 1))
        if a.bytes_in is not None:
            self.has_bytes = True
            self.bytes.add_dense(np.bincount(b.step_keys, weights=a.bytes_in))
            self.responses.add(b.step_keys[a.completed & ((a.status > 0) | a.ok | _check_failed(b))])
        judged = a.ok & (a.status < 400)  # ok rows had a response (a gRPC call's OK is 0)
        self.judged_ok.add(b.step_keys[judged])
        if self.ends:
            lo, hi = int(a.intended_ns.min()), int(a.intended_ns.max())
            self.first_ns = lo if self.first_ns is None else min(self.first_ns, lo)
            self.last_ns = hi if self.last_ns is None else max(self.last_ns, hi)

    def _classes(self, b: Batch) -> None:
        """Rows by ((step, phase) pair, class) in one count."""
        joint = b.pair_keys * CLASSES
        joint += row_class(b.a)
        pairs = int(b.pair_keys.max()) + 1
        self.pairs.add_dense(np.bincount(joint, minlength=pairs * CLASSES).reshape(pairs, CLASSES))

    # -- after the pass -------------------------------------------------------------------

    def _by(self, codes: list[int], groups: int) -> np.ndarray:
        pairs = self.pairs.sized(len(codes), CLASSES)[: len(codes), :CLASSES]
        out = np.zeros((groups, CLASSES), np.int64)
        np.add.at(out, np.asarray(codes, np.int64), pairs)
        return out

    def step_classes(self, registry: Registry) -> np.ndarray:
        """(step keys, CLASSES) counts."""
        return self._by(registry.pair_steps, len(registry.step_labels()))

    def phase_classes(self, registry: Registry) -> np.ndarray:
        return self._by(registry.pair_phases, len(registry.phases))

    def classes(self) -> np.ndarray:
        """Counts of the whole run by class."""
        return self.pairs.sized(0, CLASSES).sum(axis=0)[:CLASSES]

    def error_counts(self, registry: Registry) -> np.ndarray:
        return self.errors.sized(len(registry.errors))[: len(registry.errors)]

    def status_counts(self) -> dict[int, int]:
        """Completed rows by HTTP status, ascending (counted by the status's 16 bits)."""
        counts = self.statuses.table
        found = {int(k) - (1 << 16 if k >= 1 << 15 else 0): int(counts[k]) for k in np.flatnonzero(counts)}
        return dict(sorted(found.items()))

    def judged(self, registry: Registry, ways: ErrorWays) -> np.ndarray:
        """(step key, error code + 1) rows whose response went through the step's checks:
        completed, an HTTP status below 400, no error or an error a judged response can
        end with (``check:<name>``, :data:`JUDGED_KINDS`)."""
        steps, width = len(registry.step_labels()), len(registry.errors) + 1
        cells = np.zeros((steps, width), np.int64)
        cells[:, 0] = self.judged_ok.sized(steps)[:steps]
        for (err, step, status, _, is_error), (n, _) in ways.ways.items():
            name = registry.errors.names[err] if err >= 0 else ""
            judged = name.startswith(CHECK_PREFIX) or name in JUDGED_KINDS
            # status 0: a gRPC OK, judged; an ``internal`` row of status 0 was never sent
            if is_error and status < 400 and judged and (status > 0 or name != "internal"):
                cells[step + 1, err + 1] += n
        return cells


def _check_failed(b: Batch) -> np.ndarray:
    """Rows whose check failed: they had a response (checks judge one) even when their
    status does not say so (a gRPC call's OK is 0, like a request never answered)."""
    names = b.registry.errors.names
    is_check = np.array([n.startswith(CHECK_PREFIX) for n in names] + [False], bool)
    return is_check[b.error]  # -1 (no error): the last entry
