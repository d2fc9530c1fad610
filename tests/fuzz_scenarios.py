"""Seeded mutations of ``scenarios/*.yaml`` for the validation fuzz tests.

Each case is the bytes of one scenario file: a shipped scenario with one mutation of a
kind from :data:`KINDS` (types swapped, huge numbers, deletions, unicode, nesting,
aliases, CRLF, negative values, truncation, bad bytes...). The same seed always gives
the same cases, so a failure names a case that can be regenerated.
"""

from __future__ import annotations

import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
SEED = 20261129
NEST = "__NEST__"  # a placeholder replaced by deep flow-style nesting after dumping

SWAPS: list[Any] = [
    None, True, False, 0, -1, 2.5, "", "abc", "10s", "1e400", [], {}, [1, "x"], {"a": 1},
    1e308, -1e308, 10**400, "😀", "a\r\nb", "http://{{ x }}", "\x00", "\u202e", "2024-01-01",
]


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes


def cases(count: int, seed: int = SEED) -> list[Case]:
    """``count`` mutated scenarios, every kind in turn, from a fixed seed."""
    rng = random.Random(seed)
    bases = [(p.stem, p.read_text()) for p in sorted(SCENARIOS.glob("*.yaml"))]
    result = []
    for i in range(count):
        stem, text = rng.choice(bases)
        kind = KINDS[i % len(KINDS)]
        result.append(Case(f"{i:03d}-{kind}-{stem}", MUTATORS[kind](rng, text)))
    return result


def workspace(folder: Path) -> Path:
    """A folder with the scenarios' data files, so relative feeder paths resolve."""
    shutil.copytree(SCENARIOS / "data", folder / "data", dirs_exist_ok=True)
    return folder


# -- helpers ---------------------------------------------------------------------------


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in ``node`` (keys and list indexes)."""
    found = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        found.extend(_paths(child, prefix + (key,)))
    return found


def _set(doc: Any, path: tuple, value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _get(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _dump(doc: Any) -> bytes:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=10_000).encode()


def _on_doc(change: Callable[[random.Random, Any, tuple], None]) -> Callable[[random.Random, str], bytes]:
    """A mutator that changes the value at one random path of the parsed document."""

    def mutate(rng: random.Random, text: str) -> bytes:
        doc = yaml.safe_load(text)
        change(rng, doc, rng.choice(_paths(doc)))
        return _dump(doc)

    return mutate


# -- document mutations ----------------------------------------------------------------


def _swap(rng, doc, path):
    _set(doc, path, rng.choice(SWAPS))


def _huge(rng, doc, path):
    _set(doc, path, rng.choice([1e308, -1e308, 10**400, 2**64, 9.9e307 * 10, 1e-320, 10**18]))


def _delete(rng, doc, path):
    parent = _get(doc, path[:-1])
    del parent[path[-1]]


def _unicode(rng, doc, path):
    value = _get(doc, path)
    extra = rng.choice(["😀", "\u202e", "é", "\u0000", "\r\n", "\t", "\ufeff", "\u2028", "ß" * 1000])
    _set(doc, path, f"{value}{extra}" if isinstance(value, str) else extra)


def _unicode_key(rng, doc, path):
    parent = _get(doc, path[:-1])
    if isinstance(parent, dict):
        parent[rng.choice(["😀", "X\r\nY", "a.b", "", "k" * 5000])] = parent.pop(path[-1])
    else:
        _unicode(rng, doc, path)


def _nesting(rng, doc, path):
    depth = rng.choice([5, 70, 120])
    value: Any = _get(doc, path)
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"a": value}
    _set(doc, path, value)


def _deep_text(rng, doc, path):
    _set(doc, path, NEST)


def _alias_bomb(rng, doc, path):
    layer: Any = ["lol"] * 9
    for _ in range(rng.choice([4, 6, 9])):
        layer = [layer] * 9  # one shared object: safe_dump writes anchors and aliases
    _set(doc, path, layer)


def _recursive(rng, doc, path):
    loop: list = []
    loop.append(loop)
    _set(doc, path, loop)


def _negative(rng, doc, path):
    value = _get(doc, path)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _set(doc, path, -value if value else -1)
    else:
        _set(doc, path, rng.choice([-1, -5.5, "-10s", "-1%"]))


# -- text mutations --------------------------------------------------------------------


def _deep_flow(rng: random.Random, text: str) -> bytes:
    data = _on_doc(_deep_text)(rng, text).decode()
    depth = rng.choice([150, 5_000, 100_000])
    return data.replace(NEST, "[" * depth + "1" + "]" * depth, 1).encode()


def _long_digits(rng: random.Random, text: str) -> bytes:
    numbers = list(re.finditer(r"(?<![\w.])\d+(?![\w.])", text))
    if not numbers:
        return (text + "\nseed: " + "9" * 5000 + "\n").encode()
    m = rng.choice(numbers)
    return (text[: m.start()] + "9" * rng.choice([400, 5000]) + text[m.end():]).encode()


def _crlf(rng: random.Random, text: str) -> bytes:
    if rng.random() < 0.5:
        return text.replace("\n", "\r\n").encode()
    at = rng.randrange(len(text))
    return (text[:at] + rng.choice(["\r", "\r\n", "\n\r", "\x85"]) + text[at:]).encode()


def _truncate(rng: random.Random, text: str) -> bytes:
    return text[: rng.randrange(len(text))].encode()


def _bad_bytes(rng: random.Random, text: str) -> bytes:
    data = bytearray(text.encode())
    for _ in range(rng.randint(1, 4)):
        data.insert(rng.randrange(len(data)), rng.choice([0x00, 0x07, 0x80, 0xFF, 0xC3, 0x1B]))
    return bytes(data)


def _big(rng: random.Random, text: str) -> bytes:
    return (text + "\n# " + "x" * rng.choice([2 * 1024**2, 900 * 1024]) + "\n").encode()


def _duplicate_line(rng: random.Random, text: str) -> bytes:
    lines = text.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    return "".join(lines[: i + 1] + [lines[i]] + lines[i + 1:]).encode()


def _special_values(rng: random.Random, text: str) -> bytes:
    doc = yaml.safe_load(text)
    _set(doc, rng.choice(_paths(doc)), NEST)
    token = rng.choice([".inf", "-.inf", ".nan", "1.0e+400", "2024-01-01", "!!binary aGk=", "!!set {a}",
                        "!!python/object:os.system {}", "*nope", "&a [*a]"])
    return _dump(doc).decode().replace(repr(NEST).strip("'"), token, 1).encode()


MUTATORS: dict[str, Callable[[random.Random, str], bytes]] = {
    "type_swap": _on_doc(_swap),
    "huge_number": _on_doc(_huge),
    "long_digits": _long_digits,
    "delete": _on_doc(_delete),
    "unicode": _on_doc(_unicode),
    "unicode_key": _on_doc(_unicode_key),
    "nesting": _on_doc(_nesting),
    "deep_flow": _deep_flow,
    "alias_bomb": _on_doc(_alias_bomb),
    "recursive_alias": _on_doc(_recursive),
    "negative": _on_doc(_negative),
    "crlf": _crlf,
    "truncate": _truncate,
    "bad_bytes": _bad_bytes,
    "big_file": _big,
    "duplicate_line": _duplicate_line,
    "special_values": _special_values,
}
KINDS = tuple(MUTATORS)
