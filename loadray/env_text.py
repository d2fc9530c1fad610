"""A value that was one whole ``${...}`` reference (see
:mod:`loadray.scenario.environment`): text, read as a number or a boolean by the
readers of the fields that take one.

A leaf module: the field readers (:mod:`loadray.fields`) call :func:`typed`. A scalar
is resolved by YAML 1.1's own rules (PyYAML's resolver and constructor, as the
scenario loader reads a ``--set`` value), without parsing a document.
"""

from __future__ import annotations

import math
from typing import Any

from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

__all__ = ["EnvText", "typed"]

_TAG = "tag:yaml.org,2002:"
_TYPED_TAGS = frozenset({_TAG + "int", _TAG + "float", _TAG + "bool"})
_RESOLVER = Resolver()


class EnvText(str):
    """Text from one whole ``${...}`` reference: ``rate: "${RATE}"`` is a number where
    the scenario takes a number, ``X-Build: "${BUILD}"`` stays text."""


def typed(value: Any) -> Any:
    """``value``; an :class:`EnvText` that YAML reads as a finite number or a boolean
    as that (like a ``--set`` value), else unchanged."""
    if type(value) is not EnvText or not value.strip():
        return value
    text = value.strip()
    tag = _RESOLVER.resolve(ScalarNode, text, (True, False))
    if tag not in _TYPED_TAGS:
        return value
    try:
        scalar = SafeConstructor().construct_object(ScalarNode(tag, text))
    except ValueError:  # an integer too long for Python
        return value
    if isinstance(scalar, float) and not math.isfinite(scalar):
        return value
    return scalar
