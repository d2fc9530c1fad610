"""``--env-file FILE``: variables for ``${VAR}`` references, in the dotenv format.

One ``NAME=VALUE`` per line (``export NAME=VALUE`` too); blank lines and lines starting
with ``#`` are skipped. A value is taken as written, trimmed, up to a `` #`` comment;
in 'single quotes' it is literal, in "double quotes" ``\\n``, ``\\t``, ``\\"`` and
``\\\\`` are escapes. Nothing is interpolated inside the file, and a value does not
span lines.

The process's own environment wins over the file (:func:`merged`), as with docker
compose: ``TOKEN=x loadray run ... --env-file .env`` uses x. A bad line is an error
naming ``FILE:LINE`` without quoting the line (it may hold a secret).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from loadray.errors import ScenarioError
from loadray.input_files import read_limited

__all__ = ["MAX_ENV_FILE", "merged", "parse_env", "read_env_file"]

MAX_ENV_FILE = 1 << 20  # bytes
_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
_DOUBLE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(?:#.*)?')
_SINGLE = re.compile(r"'([^']*)'\s*(?:#.*)?")


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The variables of the dotenv file at ``path``."""
    where = f"--env-file {os.fspath(path)}"
    try:
        data = read_limited(path, MAX_ENV_FILE, "dotenv file", "split it")
    except ScenarioError as exc:
        raise ScenarioError(where, exc.message) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(where, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    return parse_env(text, where)


def parse_env(text: str, where: str) -> dict[str, str]:
    """``NAME -> value`` of dotenv ``text``; errors name ``where:LINE``."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise ScenarioError(f"{where}:{number}", "expected NAME=VALUE (NAME: letters, digits and _)")
        found[match.group(1)] = _value(match.group(2), f"{where}:{number}")
    return found


def _value(raw: str, where: str) -> str:
    if raw.startswith('"'):
        match = _DOUBLE.fullmatch(raw)
        if match is None:
            raise ScenarioError(where, "unclosed double quote (a value does not span lines)")
        return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group()), match.group(1))
    if raw.startswith("'"):
        match = _SINGLE.fullmatch(raw)
        if match is None:
            raise ScenarioError(where, "unclosed single quote (a value does not span lines)")
        return match.group(1)
    return re.split(r"\s+#", raw, maxsplit=1)[0].rstrip()


def merged(files: list[dict[str, str]], environ: Mapping[str, str]) -> dict[str, str]:
    """The files' variables (a later file wins) under the process environment (it wins)."""
    result: dict[str, str] = {}
    for variables in files:
        result.update(variables)
    result.update(environ)
    return result
