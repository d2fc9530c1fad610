"""``--set dotted.path=value`` overrides applied to the raw document before validation.

Numeric segments index lists (``load.phases.0.rate=800``); the value is read as YAML
(``800`` -> int, ``true`` -> bool, ``10s`` -> str, ``[a, b]`` -> list). Missing mapping
keys are created; validation then rejects the unknown ones.

The input document is never changed: each mapping or list on an overridden path is
copied (the rest is shared), so the cost does not grow with the document's size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import show
from loadray.scenario.yaml_load import load_yaml
from loadray.units import shorten


def apply_overrides(doc: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``doc`` with each ``"dotted.path=value"`` applied in order (a new document:
    ``doc`` itself is left alone)."""
    result = dict(doc)
    for override in overrides:
        keys, value = _split(override)
        _assign(result, keys, value, _flag(".".join(keys)))
    return result


def _split(override: str) -> tuple[list[str], Any]:
    if not isinstance(override, str) or "=" not in override:
        raise ScenarioError(_flag(override), "expected key=value, e.g. load.phases.0.rate=800")
    path, _, text = override.partition("=")
    keys = path.strip().split(".")
    if not all(keys):
        raise ScenarioError(_flag(path), "expected a dotted key like http.timeout")
    try:
        value = load_yaml(text, _flag(path))
    except ScenarioError as exc:
        problem = exc.message.removeprefix("invalid YAML: ")
        raise ScenarioError(_flag(path), f"invalid value {shorten(text)}: {problem}") from None
    return keys, value


def _flag(path: object) -> str:
    """``--set PATH`` as it can be shown on one line."""
    if isinstance(path, str) and path.isprintable() and len(path) <= 80:
        return f"--set {path}"
    return f"--set {shorten(path)}"


def limit_overrides(overrides: Iterable[str]) -> list[tuple[str, Any]]:
    """``(key, value)`` of every ``--set limits.KEY=VALUE``, in order (read before the
    rest of the document; a deeper ``limits.a.b`` is left to :func:`apply_overrides`)."""
    found = []
    for override in overrides:
        keys, value = _split(override)
        if len(keys) == 2 and keys[0] == "limits":
            found.append((keys[1], value))
    return found


def _assign(node: Any, keys: list[str], value: Any, flag: str) -> None:
    for depth, key in enumerate(keys):
        where = ".".join(keys[:depth]) or "the scenario"
        last = depth == len(keys) - 1
        if isinstance(node, (dict, list)):
            slot: Any = key if isinstance(node, dict) else _index(node, key, where, flag)
            if last:
                node[slot] = value
            else:
                node[slot] = _copy(node.get(slot) if isinstance(node, dict) else node[slot])
                node = node[slot]
        else:
            raise ScenarioError(
                flag, f"{where} is {show(node)}, not a mapping or list; cannot set {key!r} in it"
            )


def _copy(node: Any) -> Any:
    """A shallow copy of a mapping or list on the path; None becomes a new mapping."""
    if node is None:
        return {}
    return dict(node) if isinstance(node, dict) else list(node) if isinstance(node, list) else node


def _index(node: list[Any], key: str, where: str, flag: str) -> int:
    if not key.isascii() or not key.isdigit():
        raise ScenarioError(flag, f"{where} is a list; expected an item number, got {key!r}")
    index = int(key)
    if index >= len(node):
        raise ScenarioError(flag, f"{where} has no item {index} (it has {len(node)})")
    return index
