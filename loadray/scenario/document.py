"""The raw document's shape, checked before any field is read.

A YAML alias is one shared object once loaded, so ten lines of aliases can stand for
a billion values (an "alias bomb") that the first piece of code walking them would
expand. This check walks each distinct object once (no recursion, so no depth is too
deep for it) and refuses, naming the YAML path:

- a value that contains itself (an alias inside its own anchor);
- nesting deeper than ``limits.max_depth`` (a scalar counts one level);
- more than ``limits.max_values`` values once aliases are expanded;
- anything but mappings, lists, strings, finite numbers, booleans and null (a
  document built in Python can hold any object; YAML's loader already refuses dates,
  ``.inf`` and the like with a line and column).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Optional

from loadray.errors import ScenarioError
from loadray.fields import ROOT, item_path, key_path
from loadray.scenario.limits import Limits, hint

MAX_INT_BITS = 14_000  # ~4200 digits: Python cannot print (or json.dumps) much longer ints

# A visit: the value, its key (or index) in its parent, and the parent's visit.
Visit = tuple[Any, Any, Optional["Visit"]]


def check_document(doc: Any, limits: Limits) -> None:
    """Raise ScenarioError if ``doc`` breaks one of the rules above."""
    sizes, depths, unique = _measure(doc, limits.max_values + 1)
    if _depth(doc, depths) > limits.max_depth:
        path = _deepest_path(doc, depths)
        raise ScenarioError(
            path, f"nested more than {limits.max_depth} levels deep ({hint('max_depth')})"
        )
    if _size(doc, sizes) > limits.max_values:
        how = " through YAML aliases" if _size(doc, sizes) > unique else ""
        raise ScenarioError(
            _largest_path(doc, sizes, limits.max_values),
            f"expands to more than {limits.max_values} values{how} ({hint('max_values')})",
        )


def _measure(doc: Any, cap: int) -> tuple[dict[int, int], dict[int, int], int]:
    """Expanded size (capped at ``cap``) and depth of every container, by id, and the
    number of values counting each shared container once."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    unique = 0
    open_: set[int] = set()
    stack: list[tuple[Visit, bool]] = [((doc, None, None), False)]
    while stack:
        visit, finished = stack.pop()
        node = visit[0]
        ident = id(node)
        if finished:
            sizes[ident], depths[ident] = _fold(node, sizes, depths, cap)
            open_.discard(ident)
        elif ident not in sizes:
            if ident in open_:
                raise ScenarioError(_path(visit), "contains itself (a YAML alias inside its own anchor)")
            open_.add(ident)
            stack.append((visit, True))
            unique += 1 + _push_children(visit, sizes, stack)
    return sizes, depths, unique


def _push_children(visit: Visit, sizes: dict[int, int], stack: list[tuple[Visit, bool]]) -> int:
    """Stack the containers in ``visit`` not measured yet; check its scalars (counted)."""
    scalars = 0
    for key, child in _items(visit[0]):
        if isinstance(key, str) and not key.isascii():
            _check_text(key, (key, key, visit))
        if isinstance(child, (dict, list)):
            if id(child) not in sizes:
                stack.append(((child, key, visit), False))
        else:
            scalars += 1
            if not isinstance(child, str) or not child.isascii():
                _check_scalar(child, (child, key, visit))
    return scalars


def _fold(node: Any, sizes: dict[int, int], depths: dict[int, int], cap: int) -> tuple[int, int]:
    """A container's expanded size and depth from its children's (all known by now)."""
    total, deepest = 1, 0
    for child in node.values() if isinstance(node, dict) else node:
        if isinstance(child, (dict, list)):
            ident = id(child)
            total += sizes[ident]
            level = depths[ident]
        else:
            total += 1
            level = 1
        if level > deepest:
            deepest = level
    return min(cap, total), deepest + 1


def _check_text(text: str, visit: Visit) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ScenarioError(_path(visit), f"is not valid Unicode text ({exc.reason} at {exc.start})") from None


def _check_scalar(value: Any, visit: Visit) -> None:
    if isinstance(value, str):
        _check_text(value, visit)
        return
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise ScenarioError(_path(visit), "integer too long (more than ~4200 digits)")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ScenarioError(_path(visit), f"must be a finite number, got {value!r}")
        return
    raise ScenarioError(
        _path(visit),
        f"is a {type(value).__name__}; a scenario holds only mappings, lists, strings, "
        "numbers, booleans and null",
    )


def _container(value: Any) -> bool:
    return isinstance(value, (dict, list))


def _items(node: Any) -> Iterator[tuple[Any, Any]]:
    return iter(node.items()) if isinstance(node, dict) else enumerate(node)


def _size(value: Any, sizes: dict[int, int]) -> int:
    return sizes[id(value)] if _container(value) else 1


def _depth(value: Any, depths: dict[int, int]) -> int:
    return depths[id(value)] if _container(value) else 1


def _deepest_path(doc: Any, depths: dict[int, int]) -> str:
    """The path down the deepest branch, cut after a few levels."""
    visit: Visit = (doc, None, None)
    for _ in range(6):
        node = visit[0]
        if not _container(node) or not node:
            break
        key, child = max(_items(node), key=lambda kv: _depth(kv[1], depths))
        visit = (child, key, visit)
    return _path(visit)


def _largest_path(doc: Any, sizes: dict[int, int], limit: int) -> str:
    """Down from the root while one child alone is over ``limit``: where it blows up."""
    visit: Visit = (doc, None, None)
    while _container(visit[0]):
        over = [(k, c) for k, c in _items(visit[0]) if _size(c, sizes) > limit]
        if not over:
            break
        visit = (over[0][1], over[0][0], visit)
    return _path(visit)


def _path(visit: Visit) -> str:
    steps = []
    while visit[2] is not None:
        steps.append((isinstance(visit[2][0], list), visit[1]))
        visit = visit[2]
    path = ""
    for is_index, key in reversed(steps):
        path = item_path(path, key) if is_index else key_path(path, key)
    return path or ROOT
