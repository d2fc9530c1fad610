"""``{{ name }}`` templates: parsed once into literal and variable parts, never eval'd.

Grammar inside ``{{ }}`` (spaces around it are ignored):

- a name: ``token``, ``feeder.user`` (letters, digits, ``_``; dots separate parts),
  looked up verbatim in the mapping given to ``render`` (``"feeder.user"`` is one key);
- ``random_int(a, b)``: an integer in [a, b] from the caller's seeded ``random.Random``;
- ``random_choice(a|b|c)``: one of the options, from the same generator.

The built-ins ``uuid``, ``worker``, ``user`` and ``now`` are ordinary names the caller
supplies in the mapping. There is no other syntax: no filters, expressions or
attribute access. A name missing at render time raises :class:`MissingVariable`.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass

from loadray.errors import ScenarioError
from loadray.kinds import TEMPLATE as ERROR_KIND

BUILTINS = frozenset({"uuid", "worker", "user", "now"})

NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_NAME = re.compile(NAME)
_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_RANDOM_INT = re.compile(r"random_int\(\s*(-?\d{1,18})\s*,\s*(-?\d{1,18})\s*\)")  # 64-bit bounds
_RANDOM_CHOICE = re.compile(r"random_choice\((.*)\)", re.DOTALL)
_USAGE = "expected a name, random_int(a, b) or random_choice(a|b|c)"


class MissingVariable(Exception):
    """A template used a name the render mapping does not hold (error kind ``template``)."""

    kind = ERROR_KIND

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"missing variable {name!r}")


@dataclass(frozen=True)
class Variable:
    name: str

    def value(self, values: Mapping[str, object], rng: random.Random | None) -> object:
        try:
            return values[self.name]
        except KeyError:
            raise MissingVariable(self.name) from None


@dataclass(frozen=True)
class RandomInt:
    low: int
    high: int

    def value(self, values: Mapping[str, object], rng: random.Random | None) -> object:
        return _need(rng).randint(self.low, self.high)


@dataclass(frozen=True)
class RandomChoice:
    options: tuple[str, ...]

    def value(self, values: Mapping[str, object], rng: random.Random | None) -> object:
        return _need(rng).choice(self.options)


Part = str | Variable | RandomInt | RandomChoice


@dataclass(frozen=True)
class Template:
    """A parsed template: ``render`` joins its precompiled parts."""

    source: str
    parts: tuple[Part, ...]
    variables: frozenset[str]

    def render(self, values: Mapping[str, object], rng: random.Random | None = None) -> str:
        return "".join(
            [part if isinstance(part, str) else to_text(part.value(values, rng)) for part in self.parts]
        )

    @property
    def literal(self) -> bool:
        """No ``{{ }}``: renders to ``source`` every time."""
        return all(type(part) is str for part in self.parts)

    def render_value(self, values: Mapping[str, object], rng: random.Random | None = None) -> object:
        """Like ``render``, but a template that is exactly one ``{{ }}`` keeps its value's
        type (an extracted ``5`` stays an int in a JSON body)."""
        part = self.parts[0] if len(self.parts) == 1 else ""
        if not isinstance(part, str):
            return part.value(values, rng)
        return self.render(values, rng)


def compile_template(text: str, path: str) -> Template:
    """Parse ``text`` once; a malformed ``{{`` raises ScenarioError naming ``path``."""
    parts: list[Part] = []
    pos = 0
    for match in _TAG.finditer(text):
        _add_literal(parts, text[pos : match.start()], path)
        parts.append(_expression(match.group(1).strip(), path))
        pos = match.end()
    _add_literal(parts, text[pos:], path)
    names = frozenset(part.name for part in parts if isinstance(part, Variable))
    return Template(text, tuple(parts), names)


def to_text(value: object) -> str:
    """A value as template text: strings verbatim, everything else as compact JSON."""
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def _add_literal(parts: list[Part], literal: str, path: str) -> None:
    if "{{" in literal:
        raise ScenarioError(path, "unclosed '{{' (every '{{' needs a matching '}}')")
    if literal:
        parts.append(literal)


def _expression(expr: str, path: str) -> Part:
    if _NAME.fullmatch(expr) and expr not in ("random_int", "random_choice"):
        return Variable(expr)
    if match := _RANDOM_INT.fullmatch(expr):
        low, high = int(match.group(1)), int(match.group(2))
        if low > high:
            raise ScenarioError(path, f"random_int({low}, {high}): the first bound is larger")
        return RandomInt(low, high)
    if match := _RANDOM_CHOICE.fullmatch(expr):
        options = tuple(option.strip() for option in match.group(1).split("|"))
        if not all(options):
            raise ScenarioError(path, f"{{{{ {expr} }}}}: empty option in random_choice")
        return RandomChoice(options)
    raise ScenarioError(path, f"bad template {{{{ {expr} }}}}: {_USAGE}")


def _need(rng: random.Random | None) -> random.Random:
    if rng is None:
        raise TypeError("this template uses random_int/random_choice: pass rng to render")
    return rng
