"""``--set dotted.path=value`` overrides applied to the raw document before validation.

Numeric segments index lists (``load.phases.0.rate=800``); the value is read as YAML
(``800`` -> int, ``true`` -> bool, ``10s`` -> str, ``[a, b]`` -> list). Missing mapping
keys are created; validation then rejects the unknown ones.
"""

from __future__ import annotations

import copy
from typing import Any, Iterable

import yaml

from loadray.errors import ScenarioError
from loadray.scenario.fields import show


def apply_overrides(doc: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A deep copy of ``doc`` with each ``"dotted.path=value"`` applied in order."""
    result = copy.deepcopy(doc)
    for override in overrides:
        keys, value = _split(override)
        _assign(result, keys, value, f"--set {'.'.join(keys) or override}")
    return result


def _split(override: str) -> tuple[list[str], Any]:
    flag = f"--set {override}"
    if not isinstance(override, str) or "=" not in override:
        raise ScenarioError(flag, "expected key=value, e.g. load.phases.0.rate=800")
    path, _, text = override.partition("=")
    keys = path.strip().split(".")
    if not all(keys):
        raise ScenarioError(f"--set {path}", "expected a dotted key like http.timeout")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ScenarioError(f"--set {path}", f"invalid value {text!r}: {problem}") from None
    return keys, value


def _assign(node: Any, keys: list[str], value: Any, flag: str) -> None:
    for depth, key in enumerate(keys):
        where = ".".join(keys[:depth]) or "the scenario"
        last = depth == len(keys) - 1
        if isinstance(node, dict):
            if last:
                node[key] = value
            else:
                if node.get(key) is None:
                    node[key] = {}
                node = node[key]
        elif isinstance(node, list):
            index = _index(node, key, where, flag)
            if last:
                node[index] = value
            else:
                node = node[index]
        else:
            raise ScenarioError(
                flag, f"{where} is {show(node)}, not a mapping or list; cannot set {key!r} in it"
            )


def _index(node: list[Any], key: str, where: str, flag: str) -> int:
    if not key.isascii() or not key.isdigit():
        raise ScenarioError(flag, f"{where} is a list; expected an item number, got {key!r}")
    index = int(key)
    if index >= len(node):
        raise ScenarioError(flag, f"{where} has no item {index} (it has {len(node)})")
    return index
