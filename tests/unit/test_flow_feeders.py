"""Feeders: file loading, partitioning across workers, and row hand-out per mode."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from loadray.errors import ScenarioError
from loadray.flow import (
    Feeder,
    FeederSpec,
    compile_feeder,
    load_rows,
    open_feeder,
    partition,
    row_vars,
)

ROWS = [{"id": str(i)} for i in range(3)]


def ids(feeder: Feeder, count: int) -> list[str | None]:
    return [row and row["id"] for row in (feeder.next() for _ in range(count))]


def test_load_csv(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("\ufeffuser,password\nann,a1\n\"bo, b\",b2\n", encoding="utf-8")
    assert load_rows(path) == [{"user": "ann", "password": "a1"}, {"user": "bo, b", "password": "b2"}]


def test_load_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text('{"user": "ann", "age": 30}\n\n{"user": "bo", "tags": [1]}\n')
    assert load_rows(path) == [{"user": "ann", "age": 30}, {"user": "bo", "tags": [1]}]


BAD_FILES = [
    ("users.csv", None, "{file}: no such file"),
    ("users.csv", "", "{file}: feeder file has no rows"),
    ("users.csv", "user,password\n", "{file}: feeder file has no rows"),
    ("users.csv", "user,password\nann,a1\nbo\n", "{file}:3: row does not have as many fields as the header"),
    ("users.csv", "user\nann\nbo,extra\n", "{file}:3: row does not have as many fields as the header"),
    ("users.jsonl", "\n\n", "{file}: feeder file has no rows"),
    ("users.jsonl", '{"a": 1}\n{"a": \n', "{file}:2: bad JSON: Expecting value at column 7"),
    ("users.jsonl", '{"a": 1}\n[1, 2]\n', "{file}:2: expected a JSON object, got list"),
    ("users.txt", "a\n", "{file}: feeder files must end in .csv, .jsonl or .ndjson"),
    # issue 10, item 8: exit 2 and one line, never "internal error"
    ("users.csv", "user\nann\n" + "x" * 140_000 + "\n", "{file}:3: bad CSV: field larger than field limit (131072)"),
    ("users.jsonl", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}\n", "{file}:1: bad JSON: nested too deep"),
    ("users.jsonl", '{"a": ' + "[" * 70 + "]" * 70 + "}\n", "{file}:1: nested more than 64 levels deep (limits.max_depth)"),
    ("users.jsonl", '{"a": NaN}\n', "{file}:1: bad JSON: NaN is not a finite number"),
    ("users.jsonl", '{"a": -Infinity}\n', "{file}:1: bad JSON: -Infinity is not a finite number"),
    ("users.jsonl", '{"a": ' + "9" * 5000 + "}\n",
     "{file}:1: bad JSON: Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits"),
    ("users.csv", b"user\nb\xe9\n", "{file}: not UTF-8 text (bad byte at offset 6)"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES)
def test_bad_files_give_one_line(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ScenarioError) as caught:
        load_rows(path)
    assert str(caught.value) == message.format(file=path)


def test_a_feeder_over_its_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("user\n" + "ann\n" * 1000)
    with pytest.raises(ScenarioError) as caught:
        load_rows(path, max_bytes=1024)
    assert str(caught.value) == f"{path}: is 3.9KiB, over the limit of 1KiB (raise it with limits.max_feeder_size)"
    assert len(load_rows(path, max_bytes=8192)) == 1000


def test_a_feeder_that_is_a_pipe_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    os.mkfifo(path)
    with pytest.raises(ScenarioError, match="is not a regular file"):
        load_rows(path)


PARTITION = [
    (list(range(7)), 0, 3, [0, 3, 6]),
    (list(range(7)), 1, 3, [1, 4]),
    (list(range(7)), 2, 3, [2, 5]),
    (list(range(2)), 2, 3, []),
    (list(range(4)), 0, 1, [0, 1, 2, 3]),
]


@pytest.mark.parametrize(("rows", "worker", "workers", "share"), PARTITION)
def test_partition(rows: list, worker: int, workers: int, share: list) -> None:
    assert partition(rows, worker, workers) == share


def test_partition_rejects_a_worker_out_of_range() -> None:
    with pytest.raises(ValueError):
        partition([1], 2, 2)


NEXT = [
    ("sequential", "recycle", ["0", "1", "2", "0", "1", "2", "0"]),
    ("sequential", "stop_run", ["0", "1", "2", None, None, None, None]),
    ("sequential", "stop_user", ["0", "1", "2", None, None, None, None]),
    ("unique", "stop_run", ["0", "1", "2", None, None, None, None]),
    ("unique", "recycle", ["0", "1", "2", "0", "1", "2", "0"]),
]


@pytest.mark.parametrize(("mode", "when_exhausted", "expected"), NEXT)
def test_next(mode: str, when_exhausted: str, expected: list) -> None:
    assert ids(Feeder(ROWS, mode, when_exhausted, random.Random(0)), 7) == expected


@pytest.mark.parametrize("when_exhausted", ["stop_run", "recycle", "stop_user"])
def test_random_draws_with_the_seeded_rng_and_never_runs_out(when_exhausted: str) -> None:
    twin = random.Random(3)
    feeder = Feeder(ROWS, "random", when_exhausted, random.Random(3))
    assert ids(feeder, 100) == [twin.choice(ROWS)["id"] for _ in range(100)]


@pytest.mark.parametrize("mode", ["sequential", "random", "unique"])
def test_an_empty_share_is_exhausted_at_once(mode: str) -> None:
    assert Feeder([], mode, "recycle", random.Random(0)).next() is None


def test_unique_rows_over_two_workers_are_each_used_exactly_once() -> None:
    spec = FeederSpec(name="users", file="users.csv", mode="unique", when_exhausted="stop_run")
    rows = [{"id": str(i)} for i in range(1000)]
    used: list[str] = []
    for worker in range(2):
        feeder = open_feeder(spec, rows, worker, 2, random.Random(worker))
        while (row := feeder.next()) is not None:
            used.append(row["id"])
    assert sorted(used, key=int) == [str(i) for i in range(1000)]


def test_sequential_feeders_see_every_row_on_every_worker() -> None:
    spec = FeederSpec(name="users", file="users.csv", mode="sequential", when_exhausted="stop_user")
    shares = [ids(open_feeder(spec, ROWS, worker, 2, random.Random(0)), 3) for worker in range(2)]
    assert shares == [["0", "1", "2"], ["0", "1", "2"]]


def test_row_vars_prefix_columns_with_the_feeder_name() -> None:
    assert row_vars("users", {"user": "ann", "age": 30}) == {"users.user": "ann", "users.age": 30}


COMPILE = [
    ({"name": "users", "file": "data/u.csv"}, FeederSpec("users", "data/u.csv", "sequential", "recycle")),
    ({"name": "u", "file": "u.csv", "mode": "unique"}, FeederSpec("u", "u.csv", "unique", "stop_run")),
    ({"name": "u", "file": "u.csv", "mode": "unique", "when_exhausted": "recycle"},
     FeederSpec("u", "u.csv", "unique", "recycle")),
    ({"name": "u", "file": "u.csv", "mode": "random"}, FeederSpec("u", "u.csv", "random", "recycle")),
]


@pytest.mark.parametrize(("spec", "expected"), COMPILE)
def test_compile_feeder(spec: dict, expected: FeederSpec) -> None:
    assert compile_feeder(spec, "feeders[0]") == expected


BAD_SPECS = [
    ({"file": "u.csv"}, "feeders[0].name: is required"),
    ({"name": "u"}, "feeders[0].file: is required"),
    ({"name": "u", "file": "u.csv", "mode": "shuffle"},
     "feeders[0].mode: must be one of: sequential, random, unique, got 'shuffle'"),
    ({"name": "u", "file": "u.csv", "when_exhausted": "stop"},
     "feeders[0].when_exhausted: must be one of: stop_run, recycle, stop_user, got 'stop'"),
    ({"name": "u", "file": "u.csv", "path": "x"},
     "feeders[0]: unknown key 'path' (expected one of: name, file, mode, when_exhausted)"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_bad_feeder_specs_name_the_yaml_path(spec: dict, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        compile_feeder(spec, "feeders[0]")
    assert str(caught.value) == message
