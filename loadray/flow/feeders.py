"""Data feeders: rows from a CSV or JSON-lines file, handed out one per flow instance.

Modes: ``sequential`` (in file order), ``random`` (seeded draws, never exhausted) and
``unique`` (each row at most once across the cluster: the caller gives worker ``w``
of ``W`` only ``partition(rows, w, W)``). When a sequential or unique feeder runs out,
``recycle`` starts over; ``stop_run``/``stop_user`` make ``next()`` return None and
the caller stops the run or that user.

Files are read whole at validation, within bounds: a regular file of at most
``max_bytes`` (``limits.max_feeder_size``), CSV fields of at most 128 kB (Python's
``csv`` limit), JSON rows nested at most ``max_depth`` levels, finite numbers only.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import Fields, choice, string
from loadray.input_files import read_limited

MODES = ("sequential", "random", "unique")
EXHAUSTED = ("stop_run", "recycle", "stop_user")
KEYS = ("name", "file", "mode", "when_exhausted")
CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
DEFAULT_MAX_BYTES = 16 * 1024**2
DEFAULT_MAX_DEPTH = 64
RAISE_SIZE = "raise it with limits.max_feeder_size"

Row = dict[str, Any]


@dataclass(frozen=True)
class FeederSpec:
    name: str
    file: str  # as written; the scenario loader resolves it against the scenario's folder
    mode: str = "sequential"
    when_exhausted: str = "recycle"


def compile_feeder(spec: Any, path: str) -> FeederSpec:
    """``{name, file, mode, when_exhausted}``; ``unique`` defaults to ``stop_run``."""
    fields = Fields(spec, path, KEYS)
    name, file = fields.get("name", string), fields.get("file", string)
    mode = fields.get("mode", choice(*MODES), "sequential")
    default_end = "stop_run" if mode == "unique" else "recycle"
    return FeederSpec(name, file, mode, fields.get("when_exhausted", choice(*EXHAUSTED), default_end))


def load_rows(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH) -> list[Row]:
    """Every row of a ``.csv`` or ``.jsonl``/``.ndjson`` file; problems name ``file:line``."""
    path = Path(path)
    if path.suffix.lower() not in CSV_SUFFIXES + JSONL_SUFFIXES:
        raise ScenarioError(str(path), "feeder files must end in .csv, .jsonl or .ndjson")
    data = read_limited(path, max_bytes, "feeder file", RAISE_SIZE)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(path), f"not UTF-8 text (bad byte at offset {exc.start})") from None
    lines = io.StringIO(text, newline="")
    if path.suffix.lower() in CSV_SUFFIXES:
        rows = _csv_rows(lines, path)
    else:
        rows = _jsonl_rows(lines, path, max_depth)
    if not rows:
        raise ScenarioError(str(path), "feeder file has no rows")
    return rows


def partition(rows: list[Row], worker: int, workers: int) -> list[Row]:
    """Worker ``worker``'s share of ``rows``: rows w, w+W, w+2W, ... (disjoint shares)."""
    if not 0 <= worker < workers:
        raise ValueError(f"worker {worker} is not in 0..{workers - 1}")
    return rows[worker::workers]


def row_vars(name: str, row: Row) -> dict[str, Any]:
    """A row as template variables: column ``user`` of feeder ``users`` is ``users.user``."""
    return {f"{name}.{column}": value for column, value in row.items()}


class Feeder:
    """Hands out rows; ``next()`` returns None once exhausted (unless recycling)."""

    def __init__(self, rows: list[Row], mode: str, when_exhausted: str, rng: random.Random) -> None:
        self._rows = rows
        if mode not in MODES or when_exhausted not in EXHAUSTED:
            raise ValueError(f"bad feeder mode {mode!r} / when_exhausted {when_exhausted!r}")
        self._mode = mode
        self.when_exhausted = when_exhausted
        self._recycle = when_exhausted == "recycle"
        self._rng = rng
        self._next = 0

    def next(self) -> Row | None:
        if not self._rows:
            return None
        if self._mode == "random":
            return self._rng.choice(self._rows)
        if self._next == len(self._rows):
            if not self._recycle:
                return None
            self._next = 0
        self._next += 1
        return self._rows[self._next - 1]


def open_feeder(spec: FeederSpec, rows: list[Row], worker: int, workers: int, rng: random.Random) -> Feeder:
    """Worker ``worker``'s feeder: a ``unique`` feeder gets only its partition of ``rows``."""
    share = partition(rows, worker, workers) if spec.mode == "unique" else rows
    return Feeder(share, spec.mode, spec.when_exhausted, rng)


def _csv_rows(lines: Any, path: Path) -> list[Row]:
    reader = csv.DictReader(lines)
    rows = []
    try:
        for row in reader:
            if None in row or None in row.values():
                raise ScenarioError(f"{path}:{reader.line_num}", "row does not have as many fields as the header")
            rows.append(row)
    except csv.Error as exc:  # a field over 128 kB...: on the line after those read
        raise ScenarioError(f"{path}:{reader.line_num + 1}", f"bad CSV: {exc}") from None
    return rows


def _jsonl_rows(lines: Any, path: Path, max_depth: int) -> list[Row]:
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        row = _json_row(line.rstrip("\r\n"), where)
        if not isinstance(row, dict):
            raise ScenarioError(where, f"expected a JSON object, got {type(row).__name__}")
        if _deeper_than(row, max_depth):
            raise ScenarioError(where, f"nested more than {max_depth} levels deep (limits.max_depth)")
        rows.append(row)
    return rows


def _json_row(text: str, where: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ScenarioError(where, f"bad JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ScenarioError(where, "bad JSON: nested too deep") from None
    except ValueError as exc:  # an integer of more than 4300 digits, NaN
        raise ScenarioError(where, f"bad JSON: {str(exc).split(';')[0]}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` levels (a scalar is one level)."""
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > limit:
            return True
        if isinstance(node, dict):
            stack.extend((item, level + 1) for item in node.values())
        elif isinstance(node, list):
            stack.extend((item, level + 1) for item in node)
    return False
