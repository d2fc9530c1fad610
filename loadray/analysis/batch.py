"""One batch of sample rows as the streaming analysis sees it: its :class:`SampleArrays`
plus keys that mean the same in every batch of a pass.

Each Parquet part has its own dictionaries (``step``, ``error``, ``error_detail``): a
:class:`Registry` gives every name a code the first time a batch shows it, and every
batch's codes are translated to those. Small-int columns (``phase``, ``worker``,
``status``, ``attempt``, ``user``) get dense keys the same way (:class:`Values`), so
per-group arrays stay as small as the number of groups seen.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import UNNAMED_STEP, SampleArrays, flow_name

__all__ = ["Batch", "Names", "Registry", "Values"]


class FirstSeen:
    """Codes 0, 1, ... for distinct items, first seen first coded."""

    def __init__(self) -> None:
        self.items: list = []
        self._index: dict = {}

    def __len__(self) -> int:
        return len(self.items)

    def code(self, item) -> int:
        found = self._index.get(item)
        if found is None:
            found = self._index[item] = len(self.items)
            self.items.append(item)
        return found


class Names(FirstSeen):
    """Codes for the distinct strings of a column."""

    @property
    def names(self) -> list[str]:
        return self.items

    def translate(self, names: list[str], codes: np.ndarray, shift: int = 0, dtype: type = np.int32) -> np.ndarray:
        """Batch-local ``codes`` (into ``names``; -1 = null) as codes of this registry,
        plus ``shift`` (null: ``shift - 1``)."""
        lut: np.ndarray = np.array([self.code(n) + shift for n in names] + [shift - 1], dtype)
        return lut[codes]


class Values(FirstSeen):
    """Dense keys (0, 1, ...) for the distinct values of an integer column, first seen
    first keyed; :attr:`values` holds the value of every key."""

    def __init__(self) -> None:
        super().__init__()
        self._base, self._lut = 0, np.zeros(0, np.int64)  # value - base -> key (-1: not seen)

    @property
    def values(self) -> list[int]:
        return self.items

    def keys(self, values: np.ndarray) -> np.ndarray:
        if values.size == 0:
            return np.zeros(0, np.int64)
        lo, hi = int(values.min()), int(values.max())
        if hi - lo >= 1 << 16:  # a wide range (users): sort
            distinct, inverse = np.unique(values, return_inverse=True)
            return np.array([self._key(int(v)) for v in distinct.tolist()], np.int64)[inverse.ravel()]
        if lo < self._base or hi >= self._base + self._lut.size:  # a lookup table over the range seen
            base = min(lo, self._base) if self._lut.size else lo
            grown = np.full(max(hi, self._base + self._lut.size - 1) - base + 1, -1, np.int64)
            if self._lut.size:
                grown[self._base - base : self._base - base + self._lut.size] = self._lut
            self._base, self._lut = base, grown
        keys = self._lut[values - self._base]
        if keys.min() < 0:  # values not seen before
            for v in np.unique(values[keys < 0]).tolist():
                self._lut[v - self._base] = self._key(int(v))
            keys = self._lut[values - self._base]
        return keys

    def see(self, values: np.ndarray) -> None:
        """Key the distinct values of ``values`` (no per-row keys)."""
        if values.size == 0:
            return
        lo, hi = int(values.min()), int(values.max())
        if lo == hi:  # one worker's row group
            self._key(lo)
            return
        distinct = (np.flatnonzero(np.bincount((values - lo).astype(np.int64))) + lo if hi - lo < 1 << 16
                    else np.unique(values))
        for v in distinct.tolist():
            self._key(int(v))

    def _key(self, value: int) -> int:
        return self.code(value)


class Registry:
    """Every code space of one pass over a run's batches."""

    def __init__(self) -> None:
        self.steps, self.errors, self.details, self.flows = Names(), Names(), Names(), Names()
        self.phases, self.workers, self.statuses, self.attempts, self.users = (Values() for _ in range(5))
        self._flow_of: list[int] = []  # flow code of each step code + 1 (0: null step)
        self.pairs = np.full((0, 0), -1, np.int64)  # (step key, phase key) -> pair code
        self.pair_steps: list[int] = []  # step key of each pair code
        self.pair_phases: list[int] = []

    def step_labels(self) -> list[str]:
        """The label of every step key (``step code + 1``; key 0: no step)."""
        return [UNNAMED_STEP, *self.steps.names]

    def error_labels(self, none: str) -> list[str]:
        return [none, *self.errors.names]

    def pair_codes(self, steps: np.ndarray, phases: np.ndarray) -> np.ndarray:
        """Dense codes of (step key, phase key) pairs, first seen first coded."""
        if steps.size == 0:
            return np.zeros(0, np.int64)
        shape = (max(self.pairs.shape[0], int(steps.max()) + 1), max(self.pairs.shape[1], int(phases.max()) + 1))
        if shape != self.pairs.shape:
            grown = np.full(shape, -1, np.int64)
            grown[: self.pairs.shape[0], : self.pairs.shape[1]] = self.pairs
            self.pairs = grown
        flat = steps * shape[1]
        flat += phases
        codes = self.pairs.reshape(-1)[flat]
        if codes.min() < 0:
            for cell in np.unique(flat[codes < 0]).tolist():
                step, phase = divmod(cell, shape[1])
                self.pairs[step, phase] = len(self.pair_steps)
                self.pair_steps.append(step)
                self.pair_phases.append(phase)
            codes = self.pairs.reshape(-1)[flat]
        return codes

    def flow_of_steps(self) -> np.ndarray:
        """Flow code of every step key (the step's part before ``/``)."""
        labels = self.step_labels()
        while len(self._flow_of) < len(labels):
            self._flow_of.append(self.flows.code(flow_name(labels[len(self._flow_of)])))
        return np.array(self._flow_of, np.int64)


class Batch:
    """Batch number ``index`` of a pass: ``a`` (its arrays) and global keys (cached)."""

    def __init__(self, a: SampleArrays, index: int, registry: Registry) -> None:
        self.a, self.index, self.registry = a, index, registry
        #: step code + 1 (0: null step), int64
        self.step_keys = registry.steps.translate(a.step_names, a.step_codes, 1, np.int64)
        self.error = registry.errors.translate(a.error_names, a.error_codes)  # -1: no error

    @property
    def n(self) -> int:
        return self.a.n

    @cached_property
    def step(self) -> np.ndarray:
        """Step code (-1: null step)."""
        return self.step_keys - 1

    @cached_property
    def error_keys(self) -> np.ndarray:
        return self.error.astype(np.int64) + 1

    def value_keys(self, column: str) -> np.ndarray:
        """Dense keys of ``phase``, ``worker``, ``status`` or ``attempt`` (see :class:`Values`)."""
        cached = self.__dict__.setdefault("_value_keys", {})
        if column not in cached:
            space = {"phase": self.registry.phases, "worker": self.registry.workers,
                     "status": self.registry.statuses, "attempt": self.registry.attempts}[column]
            cached[column] = space.keys(getattr(self.a, column))
        return cached[column]

    @cached_property
    def pair_keys(self) -> np.ndarray:
        """Code of each row's (step, phase) pair (:meth:`Registry.pair_codes`)."""
        return self.registry.pair_codes(self.step_keys, self.value_keys("phase"))

    @cached_property
    def user_keys(self) -> np.ndarray:
        """Dense keys of the user, -1 read as a user of its own (rows without one)."""
        return self.registry.users.keys(np.where(self.a.has_user, self.a.user.astype(np.int64), -1))

    @cached_property
    def step_flows(self) -> np.ndarray:
        """Flow code of every step key of the registry (:meth:`Registry.flow_of_steps`)."""
        return self.registry.flow_of_steps()

    @cached_property
    def flow_keys(self) -> np.ndarray:
        """Flow code + 1 of the rows in a flow instance; 0 for the others."""
        keys = self.step_flows[self.step_keys] + 1
        keys[~(self.a.has_flow_id | self.a.has_flow_ns)] = 0
        return keys

    @cached_property
    def has_detail(self) -> np.ndarray | None:
        """Rows with an ``error_detail`` (None: no row has one)."""
        column = self.a.error_detail
        if column is None or column.null_count == len(column):
            return None
        return np.asarray(column.is_valid())

    @cached_property
    def marked(self) -> np.ndarray:
        """Rows with an error or an ``error_detail``."""
        marked = self.error >= 0
        if self.has_detail is not None:
            marked |= self.has_detail
        return np.flatnonzero(marked)

    @cached_property
    def marked_details(self) -> np.ndarray:
        """Global code of the ``error_detail`` of each of :attr:`marked` (-1: none)."""
        return self.details(self.marked)

    def details(self, rows: np.ndarray) -> np.ndarray:
        """Global code of the ``error_detail`` of each of ``rows`` (-1: none)."""
        column = self.a.error_detail
        if self.has_detail is None or column is None:
            return np.full(rows.size, -1, np.int32)
        taken = column.take(pa.array(rows))
        if not pa.types.is_dictionary(taken.type):
            taken = pc.dictionary_encode(taken.cast(pa.string()))
        names = [str(v) for v in taken.dictionary.to_pylist()]
        codes = np.asarray(taken.indices.cast(pa.int64()).fill_null(-1))
        return self.registry.details.translate(names, codes)
