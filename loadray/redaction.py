"""The one redaction policy: what loadray never writes or prints about a scenario.

Every artefact of a run (``scenario.yaml``, the step and error strings of the samples,
``summary.json``, ``report.html``, the run record) and every line the CLI prints goes
through these functions, so a secret masked in one place is masked in all of them.
Pure: no I/O, standard library only (it sits below every other package).

What is secret, replaced by :data:`MASK`:

1. **Secret-named keys**, at any depth of any mapping (headers, ``query``, ``json``,
   ``form``, any other section): the whole value, of any type (a string, a number, a
   list, a mapping). A name is secret when it contains one of :data:`SECRET_WORDS`
   (``pass``, ``pwd``, ``secret``, ``token``, ``auth``, ``api-key``/``api_key``/``apikey``,
   ``access-key``, ``private``, ``cookie``, ``session``, ``credential``, ``signature``,
   ``jwt``; any case, so ``X-Custom-Auth``, ``passwd``, ``csrf_token``, ``Set-Cookie``),
   or when one of its ``-``/``_``/``.``-separated parts is one of :data:`SECRET_PARTS`
   (``key``, ``sig``, ``pin``, ``otp``, ``sid``: ``?key=``, ``X-Key``, ``tls.key``).
2. **URL userinfo** in any string: ``http://user:pw@host`` -> ``http://***@host``.
3. **Secret-named parameters** in any string: ``name=value`` where ``name`` is secret
   (query strings of paths, step URLs, the webhook; form-encoded and ``key=value``
   text) -> ``name=***``.
4. **Raw bodies** as a whole: a string under ``body``, ``json``, ``form`` or
   ``body_contains`` that holds a secret-named field with a literal value, as JSON
   (``"password": "x"``), form (``password=x``) or text (``password: x``).
5. **JSON checks on a secret**: ``{expr: data.token, equals: V}`` -> ``V`` masked.
6. **Given literal values** (``secrets``, e.g. values resolved from the environment):
   wherever they appear, in keys and values; as substrings only from
   :data:`MIN_SECRET_LEN` characters (a 2-character value would mask half the text).

``{{ template }}`` references and ``${VAR}`` environment references (without a
``:-default``, which is literal text) stay visible: they name where a value comes from,
not the value. Under a secret name a template survives with the harmless text around it
(``Bearer {{ token }}``); any other literal text there is masked (``sk-{{ x }}`` ->
``***{{ x }}``). Empty strings and ``null`` are kept (nothing to hide). The policy is
idempotent: redacting a redacted document changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "MASK",
    "MIN_SECRET_LEN",
    "SECRET_PARTS",
    "SECRET_WORDS",
    "is_secret_name",
    "mask_text_values",
    "redact",
    "redact_body",
    "redact_error",
    "redact_text",
]

MASK = "***"
MIN_SECRET_LEN = 4
SECRET_WORDS = (
    "pass", "pwd", "secret", "token", "auth", "api-key", "api_key", "apikey", "access-key",
    "access_key", "accesskey", "private", "cookie", "session", "credential", "signature", "jwt",
)
SECRET_PARTS = ("key", "sig", "pin", "otp", "sid")
#: Keys whose string value is a raw request body (or a piece of one).
BODY_KEYS = ("body", "json", "form", "body_contains")

_WORD = re.compile("|".join(map(re.escape, SECRET_WORDS)), re.IGNORECASE)
_PART_SPLIT = re.compile(r"[^a-z0-9]+")
# no braces inside: linear time on any input
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}|\$\{(?:plain:)?[A-Za-z_][A-Za-z0-9_]*\}")
# Literal text that may stand next to a template under a secret name.
_HARMLESS = re.compile(
    r"\s*(?:(?:bearer|basic|token|digest|negotiate|apikey)\b)?[\s:;,/=&.\-]*", re.IGNORECASE
)
_USERINFO = re.compile(r"(?i)(?<![a-z0-9+.\-])([a-z][a-z0-9+.\-]*://)([^/?#@\s]+)@")
_NAME = r"[\w.\-\[\]]+"
_VALUE = r"""=?(?:'[^']*'|"[^"]*"|(?:\{\{[^{}]*\}\}|[^&#;?\s,"')\]])*)"""
# Names start only where no name character precedes them: every regex here runs in
# linear time, whatever a scenario holds.
_PARAM = re.compile(rf"(?<![\w.\-\[\]])({_NAME})=({_VALUE})")
_FIELD = re.compile(
    rf"""(?<![\w.\-\[\]"'])(["']?)({_NAME})\1\s*[:=]\s*("[^"]*"|'[^']*'|\{{\{{[^{{}}]*\}}\}}|[^\s&,;}}\]]+)"""
)
# A value an error line echoes: ``got <value>...``, ``value '<value>'``, ``is '<value>'``.
_ECHO = re.compile(r"\b(got)\b.*|\b(value|is) ('[^']*'|\"[^\"]*\")", re.DOTALL)


def is_secret_name(name: object) -> bool:
    """Whether a key, header, parameter or JSONPath names a secret (see the module doc)."""
    if not isinstance(name, str):
        return False
    return bool(_WORD.search(name)) or any(p in SECRET_PARTS for p in _PART_SPLIT.split(name.lower()))


def redact(doc: Any, secrets: Iterable[str] = ()) -> Any:
    """A redacted copy of ``doc`` (a scenario document, a run record, any JSON-like
    value); ``doc`` itself is never changed."""
    return _walk(doc, _literals(secrets))


def mask_text_values(doc: Any, secrets: Iterable[str]) -> Any:
    """A copy of ``doc`` with the given ``secrets`` masked in its strings and keys only
    (rule 6): its numbers are data (a run record's counts), not secrets, even when one
    equals a secret's text."""
    return _mask_strings(doc, _literals(secrets))


def _mask_strings(value: Any, secrets: tuple[str, ...]) -> Any:
    if not secrets:
        return value
    if isinstance(value, dict):
        return {_mask_strings(k, secrets): _mask_strings(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_strings(item, secrets) for item in value]
    return _text(value, secrets) if isinstance(value, str) else value


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with given secrets, URL userinfo and secret-named ``name=value``
    parameters masked (rules 2, 3 and 6)."""
    return _text(text, _literals(secrets))


def redact_body(text: str, secrets: Iterable[str] = ()) -> str:
    """A raw body: :data:`MASK` as a whole when it holds a secret-named field with a
    literal value (rule 4), else :func:`redact_text`."""
    return _body(text, _literals(secrets))


def redact_error(text: str, path: str = "", secrets: Iterable[str] = ()) -> str:
    """An error line for the terminal: :func:`redact_text`, and when ``path`` (the YAML
    path or ``--set`` flag it names) has a secret-named part, the values it echoes
    (``got ...``, ``value '...'``, ``is '...'``) masked; names it quotes stay."""
    line = redact_text(text, secrets)
    if any(is_secret_name(part) for part in re.split(r"[.\[\]\s]+", path)):
        head, sep, message = line.partition(f"{path}: ") if path else ("", "", line)
        line = head + sep + _ECHO.sub(lambda m: f"{m.group(1) or m.group(2)} {MASK}", message)
    return line


# -- the walk -----------------------------------------------------------------------


def _literals(secrets: Iterable[str]) -> tuple[str, ...]:
    found = {str(s) for s in secrets if s is not None and str(s)}
    return tuple(sorted(found, key=len, reverse=True))  # longest first: no partial leftovers


def _walk(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return _mapping(value, secrets)
    if isinstance(value, (list, tuple)):
        return [_walk(item, secrets) for item in value]
    if isinstance(value, str):
        return _text(value, secrets)
    if value is not None and not isinstance(value, bool) and str(value) in secrets:
        return MASK
    return value


def _mapping(mapping: dict, secrets: tuple[str, ...]) -> dict:
    check_on_secret = is_secret_name(mapping.get("expr")) and "equals" in mapping
    out = {}
    for key, value in mapping.items():
        name = _text(key, secrets) if isinstance(key, str) else key
        if is_secret_name(key) or (check_on_secret and key == "equals"):
            out[name] = _secret_value(value)
        elif key in BODY_KEYS and isinstance(value, str):
            out[name] = _body(value, secrets)
        else:
            out[name] = _walk(value, secrets)
    return out


def _secret_value(value: Any) -> Any:
    """The value of a secret-named key: templates (and harmless text around them) stay."""
    if value is None or value == "":
        return value
    if isinstance(value, str):
        return _keep_templates(value)
    if isinstance(value, (dict, list, tuple)) and _only_templates(value):
        return value
    return MASK


def _keep_templates(text: str) -> str:
    if not _TEMPLATE.search(text):
        return MASK if text else text
    out, at = [], 0
    for match in _TEMPLATE.finditer(text):
        out += [_harmless_or_mask(text[at:match.start()]), match.group()]
        at = match.end()
    out.append(_harmless_or_mask(text[at:]))
    return "".join(out)


def _harmless_or_mask(literal: str) -> str:
    return literal if _HARMLESS.fullmatch(literal) else MASK


def _only_templates(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_only_templates(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_only_templates(v) for v in value)
    return isinstance(value, str) and _TEMPLATE.search(value) is not None and _keep_templates(value) == value


def _text(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if text == secret:
            return MASK
        if len(secret) >= MIN_SECRET_LEN:
            text = text.replace(secret, MASK)
    if "@" in text:
        text = _USERINFO.sub(lambda m: m.group(1) + _keep_templates(m.group(2)) + "@", text)
    return _PARAM.sub(_param, text) if "=" in text else text


def _param(match: re.Match) -> str:
    name, value = match.group(1), match.group(2)
    if not value or not is_secret_name(name):
        return match.group()
    return f"{name}={_keep_templates(value)}"


def _body(text: str, secrets: tuple[str, ...]) -> str:
    for match in _FIELD.finditer(text):
        value = match.group(3).strip("\"'")
        if value and value != MASK and is_secret_name(match.group(2)) and _keep_templates(value) != value:
            return MASK
    return _text(text, secrets)
