"""A value that was one whole ``${...}`` reference (see :mod:`.environment`): text, read
as a number or a boolean by the readers of the fields that take one."""

from __future__ import annotations

from typing import Any

from loadray.errors import ScenarioError

__all__ = ["EnvText", "typed"]


class EnvText(str):
    """Text from one whole ``${...}`` reference: ``rate: "${RATE}"`` is a number where
    the scenario takes a number, ``X-Build: "${BUILD}"`` stays text."""


def typed(value: Any) -> Any:
    """``value``; an :class:`EnvText` that YAML reads as a number or boolean as that
    (like a ``--set`` value), else unchanged."""
    if type(value) is not EnvText or not value.strip():
        return value
    from loadray.scenario.yaml_load import load_yaml  # lazy: it imports the readers

    try:
        scalar = load_yaml(str(value), "")
    except ScenarioError:
        return value
    return scalar if isinstance(scalar, (int, float)) else value  # a bool is an int
