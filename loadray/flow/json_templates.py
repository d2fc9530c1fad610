"""Templates inside a ``json:`` body: every string leaf is a template, keys are literal."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from loadray.errors import ScenarioError
from loadray.flow.templates import Template, compile_template


@dataclass(frozen=True)
class JsonTemplate:
    """A nested dict/list structure whose string leaves are compiled templates."""

    value: Any
    variables: frozenset[str]

    def render(self, values: Mapping[str, object], rng: random.Random | None = None) -> Any:
        return render_json(self.value, values, rng)

    @property
    def literal(self) -> bool:
        """No ``{{ }}`` anywhere: renders to the same value every time."""
        return not _has_template(self.value)


def compile_json(value: Any, path: str) -> JsonTemplate:
    """Compile every string leaf of ``value``; non-JSON values raise ScenarioError."""
    names: set[str] = set()
    compiled = _compile(value, path, names)
    return JsonTemplate(compiled, frozenset(names))


def template_leaves(value: Any, path: str) -> Iterator[tuple[str, Template]]:
    """Every templated leaf of a :func:`compile_json` structure with its YAML path, named
    as ``compile_json`` names them (``body.items[0].id``)."""
    if isinstance(value, Template):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from template_leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from template_leaves(item, f"{path}[{i}]")


def render_json(value: Any, values: Mapping[str, object], rng: random.Random | None = None) -> Any:
    """Render a structure built by :func:`compile_json` (a leaf ``"{{ n }}"`` keeps n's type)."""
    if isinstance(value, Template):
        return value.render_value(values, rng)
    if isinstance(value, dict):
        return {key: render_json(item, values, rng) for key, item in value.items()}
    if isinstance(value, list):
        return [render_json(item, values, rng) for item in value]
    return value


def _compile(value: Any, path: str, names: set[str]) -> Any:
    if isinstance(value, str):
        template = compile_template(value, path)
        names.update(template.variables)
        return value if all(type(part) is str for part in template.parts) else template
    if isinstance(value, dict):
        return {_key(key, path): _compile(item, f"{path}.{key}", names) for key, item in value.items()}
    if isinstance(value, list):
        return [_compile(item, f"{path}[{i}]", names) for i, item in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise ScenarioError(path, f"must be JSON (mapping, list, string, number, bool, null), got {value!r}")


def _key(key: Any, path: str) -> str:
    if not isinstance(key, str):
        raise ScenarioError(path, f"JSON object keys must be strings, got {key!r}")
    return key


def _has_template(value: Any) -> bool:
    if isinstance(value, Template):
        return True
    if isinstance(value, dict):
        return any(_has_template(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_template(item) for item in value)
    return False
