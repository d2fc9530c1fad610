"""YAML text -> plain values (dict, list, str, int, float, bool, None), strictly and safely.

- libyaml's parser when it is installed (PyYAML's ``CParser``, ~3x faster than the pure
  Python one), under PyYAML's own composer: libyaml's composer recurses in C and
  crashes the process on a document nested 100k deep; this one stops at
  :data:`~loadray.scenario.limits.DEPTH_CEILING` levels with a line and column.
- A key repeated in one mapping is an error (PyYAML keeps the last one).
- Integers too long for Python (> 4300 digits) and ``.inf``/``.nan`` are errors: every
  number is finite. Dates, ``!!binary``, ``!!set``, ``!!omap`` and ``!!pairs`` are
  refused (quote a date to send it as text).

Alias expansion is bounded later, on the values (:mod:`.document`): an alias is one
shared object here, so an alias bomb costs nothing to load.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import Resolver

from loadray.errors import ScenarioError
from loadray.input_files import read_limited
from loadray.scenario.limits import DEPTH_CEILING

try:  # libyaml
    from yaml._yaml import CParser as _Parser

    LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: Any) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)

    LIBYAML = False

_TAG = "tag:yaml.org,2002:"
_REFUSED = {
    "timestamp": "a YAML date or time; quote it to use it as text",
    "binary": "!!binary values are not supported",
    "set": "!!set values are not supported; use a list",
    "omap": "!!omap values are not supported; use a mapping",
    "pairs": "!!pairs values are not supported; use a mapping",
}


class _Loader(Composer, _Parser, SafeConstructor, Resolver):
    def __init__(self, stream: Any) -> None:
        _Parser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0

    def compose_sequence_node(self, anchor: Any) -> Any:
        with self._level():
            return super().compose_sequence_node(anchor)

    def compose_mapping_node(self, anchor: Any) -> Any:
        with self._level():
            return super().compose_mapping_node(anchor)

    @contextlib.contextmanager
    def _level(self) -> Iterator[None]:
        """One more level of mappings and lists; too many stop the parser here."""
        if self._depth >= DEPTH_CEILING:
            event = self.peek_event()
            mark = event.start_mark if event is not None else None
            raise ComposerError(None, None, f"nested deeper than {DEPTH_CEILING} levels", mark)  # type: ignore[arg-type]
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: let SafeConstructor report it
                continue
            if duplicate:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # Python's int-from-text limit (4300 digits)
            raise ConstructorError(
                None, None, f"integer of {len(node.value)} characters is too long", node.start_mark
            ) from None

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value = super().construct_yaml_float(node)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConstructorError(
                None, None, f"{node.value} is not a finite number", node.start_mark
            )
        return value

    def refuse(self, node: yaml.Node) -> None:
        reason = _REFUSED[node.tag[len(_TAG):]]
        raise ConstructorError(None, None, f"{reason} ({_short(node)})", node.start_mark)


# (the stubs know only PyYAML's own loader classes)
_Loader.add_constructor(f"{_TAG}int", _Loader.construct_yaml_int)  # type: ignore[type-var]
_Loader.add_constructor(f"{_TAG}float", _Loader.construct_yaml_float)  # type: ignore[type-var]
for _name in _REFUSED:
    _Loader.add_constructor(f"{_TAG}{_name}", _Loader.refuse)  # type: ignore[type-var]


def read_yaml(path: str | os.PathLike[str], max_bytes: int, raise_with: str) -> Any:
    """The parsed YAML file at ``path`` (a regular file of at most ``max_bytes``); every
    problem is a ScenarioError naming ``file`` or ``file:line:column``."""
    where = os.fspath(path)
    data = read_limited(path, max_bytes, "scenario file", raise_with)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(where, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    return load_yaml(data, where)


def load_yaml(data: bytes | str, where: str) -> Any:
    """One YAML document; errors name ``where`` (a file, or a ``--set`` flag) with the
    line and column when they are known."""
    source = data if LIBYAML or isinstance(data, str) else data.decode("utf-8")
    try:
        return yaml.load(source, Loader=_Loader)  # type: ignore[arg-type]  # a SafeConstructor loader
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(where, exc) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(where, source, exc) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise ScenarioError(where, f"invalid YAML: {_one_line(str(exc))}") from None


def _yaml_error(where: str, exc: yaml.MarkedYAMLError) -> ScenarioError:
    mark = exc.problem_mark or exc.context_mark
    location = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
    problem = exc.problem or exc.context or "syntax error"
    return ScenarioError(location, f"invalid YAML: {_one_line(problem)}")


def _reader_error(where: str, source: bytes | str, exc: yaml.reader.ReaderError) -> ScenarioError:
    newline = b"\n" if isinstance(source, bytes) else "\n"
    line = source.count(newline, 0, exc.position) + 1  # type: ignore[arg-type]
    column = exc.position - source.rfind(newline, 0, exc.position)  # type: ignore[arg-type]
    character = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return ScenarioError(
        f"{where}:{line}:{column}",
        f"invalid YAML: unacceptable character #x{character:04x}: {exc.reason}",
    )


def _short(node: yaml.Node) -> str:
    text = str(node.value) if isinstance(node, yaml.ScalarNode) else node.tag
    return text if len(text) <= 40 else text[:37] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())
