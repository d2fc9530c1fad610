"""``${VAR}`` references in scenario values, resolved from the environment at load.

Grammar, in any string value of the document (keys are left alone)::

    ${NAME}                  the variable's value; an error naming the YAML path if unset
    ${NAME:-default}         the default when NAME is unset or empty (up to the first '}')
    ${plain:NAME}            ${plain:NAME:-default}: the same, not a secret (see below)
    $${                      a literal '${' (nothing is resolved)

``NAME`` is ``[A-Za-z_][A-Za-z0-9_]*``; any other ``${...}`` is an error. A value set
but empty is used as is by ``${NAME}`` (``${NAME:-default}`` takes the default).

**Types.** A reference inside other text gives text. A value that is one whole
reference (``rate: ${RATE}``, quoted or not) is text too, read as a number or a boolean
where the scenario takes one (like a ``--set`` value): ``rate: "${RATE:-100}"`` is 100
req/s, ``X-Build: "${BUILD}"`` stays the header text ``"123"``.

**Secrets.** A value taken from the environment is a secret: it is sent, never archived
or printed. ``scenario.yaml`` keeps every reference as written (``Bearer ${TOKEN}``),
and the other artefacts (step names, check names, the run record, error lines) mask
the values in :attr:`Resolved.secrets` (``***``). ``plain:`` marks a value that is not
a secret (``${plain:REGION}``): it is not masked. In ``name`` and ``thresholds`` every
reference is plain and archived resolved: the report reads both back from
``scenario.yaml``. A default comes from the scenario file, not from the environment:
it is never a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadray.env_text import EnvText, typed
from loadray.errors import ScenarioError
from loadray.fields import ROOT, item_path, key_path

__all__ = ["PLAIN_KEYS", "EnvText", "Resolved", "resolve_env", "typed"]

#: Top-level keys whose references are always plain and archived resolved.
PLAIN_KEYS = ("name", "thresholds")

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(r"\$\$\{|\$\{([^{}]*)\}|\$\{")  # escape | reference | unclosed
_REFERENCE = re.compile(rf"(plain:)?({_NAME})(?::-(.*))?", re.DOTALL)
_WHOLE = re.compile(r"\$\{[^{}]*\}")
_SHOWN = 40  # characters of a malformed reference quoted in an error


@dataclass(frozen=True)
class Resolved:
    """``doc``: what is sent (references resolved); ``archived``: what ``scenario.yaml``
    shows (references as written, resolved under :data:`PLAIN_KEYS`); ``secrets``:
    the values taken from the environment for secret references."""

    doc: Any
    archived: Any
    secrets: frozenset[str]


def resolve_env(doc: Any, environ: Mapping[str, str]) -> Resolved:
    """Resolve every reference in ``doc`` (left as it is: the containers on the way to a
    reference are copied, the rest is shared); errors name the YAML path."""
    walk = _Walk(environ)
    resolved, archived = walk.value(doc, "", plain=False)
    return Resolved(resolved, archived, frozenset(walk.secrets))


class _Walk:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.secrets: set[str] = set()

    def value(self, node: Any, path: str, plain: bool) -> tuple[Any, Any]:
        if isinstance(node, dict):
            return self._mapping(node, path, plain)
        if isinstance(node, list):
            return self._list(node, path, plain)
        if isinstance(node, str) and "${" in node:
            return self._text(node, path or ROOT, plain)
        return node, node

    def _mapping(self, node: dict, path: str, plain: bool) -> tuple[Any, Any]:
        pairs = [
            self.value(child, key_path(path, key), plain or (not path and key in PLAIN_KEYS))
            for key, child in node.items()
        ]
        if all(sent is child and shown is child for (sent, shown), child in zip(pairs, node.values())):
            return node, node
        keys = list(node)
        return dict(zip(keys, (s for s, _ in pairs))), dict(zip(keys, (a for _, a in pairs)))

    def _list(self, node: list, path: str, plain: bool) -> tuple[Any, Any]:
        pairs = [self.value(child, item_path(path, i), plain) for i, child in enumerate(node)]
        if all(sent is child and shown is child for (sent, shown), child in zip(pairs, node)):
            return node, node
        return [s for s, _ in pairs], [a for _, a in pairs]

    def _text(self, text: str, path: str, plain: bool) -> tuple[Any, Any]:
        """(sent, archived): references resolved; archived as written unless ``plain``."""
        sent, at = [], 0
        for match in _TOKEN.finditer(text):
            sent.append(text[at:match.start()])
            at = match.end()
            sent.append("${" if match.group() == "$${" else self._reference(match, path, plain))
        sent.append(text[at:])
        value = "".join(sent)
        if _WHOLE.fullmatch(text):
            value = EnvText(value)
        return value, (str(value) if plain else text)

    def _reference(self, match: re.Match, path: str, plain: bool) -> str:
        """The value of one ``${...}``; a secret's value joins :attr:`secrets`."""
        body = match.group(1)
        parsed = _REFERENCE.fullmatch(body) if body is not None else None
        if parsed is None:
            shown = match.group() if body is not None and len(body) <= _SHOWN else "${"
            raise ScenarioError(path, f"malformed reference {shown!r}: expected ${{NAME}}, "
                                      "${NAME:-default} or ${plain:NAME} (write $${ for a literal '${')")
        marked_plain, name, default = parsed.groups()
        value = self.environ.get(name)
        if default is not None and not value:
            return default
        if value is None:
            raise ScenarioError(path, f"environment variable {name} is not set "
                                      f"(set it, pass --env-file, or write ${{{name}:-default}})")
        if value and not (plain or marked_plain):
            self.secrets.add(value)
        return value
