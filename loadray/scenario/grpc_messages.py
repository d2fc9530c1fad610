"""A gRPC step's ``message`` checked against its request type at validation: an
unknown field, a literal of the wrong type or shape names its YAML path. A templated
leaf is checked when it is rendered (a value that does not fit makes the step's row an
error ``grpc_message``, never sent). Field names are the proto's (``user_id``) or their
JSON names (``userId``).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from loadray.errors import ScenarioError
from loadray.fields import show
from loadray.flow.templates import Template
from loadray.grpc.proto import message_class

__all__ = ["check_message"]

_WELL_KNOWN = "google.protobuf."  # Timestamp, Duration, Struct...: their own JSON forms


def check_message(value: Any, descriptor: Descriptor, path: str) -> None:
    """Raise :class:`ScenarioError` at the first part of ``value`` (a compiled JSON
    template's value) that cannot be a ``descriptor`` message."""
    if not isinstance(value, dict):
        raise ScenarioError(path, f"must be a mapping of the fields of {descriptor.full_name}, got {show(value)}")
    for key, item in value.items():
        field = _field(descriptor, key, f"{path}.{key}")
        _check_field(item, field, descriptor, f"{path}.{key}")


def _field(descriptor: Descriptor, key: str, path: str) -> FieldDescriptor:
    field = descriptor.fields_by_name.get(key) or descriptor.fields_by_camelcase_name.get(key)
    if field is None:
        known = ", ".join(descriptor.fields_by_name) or "none"
        raise ScenarioError(path, f"{descriptor.full_name} has no field {key!r} (fields: {known})")
    return field


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _check_field(item: Any, field: FieldDescriptor, owner: Descriptor, path: str) -> None:
    if isinstance(item, Template) or item is None:
        return  # rendered at run time / null: the field's default
    if _is_map(field):
        if not isinstance(item, dict):
            raise ScenarioError(path, f"must be a mapping (map field {field.name}), got {show(item)}")
        value_field = field.message_type.fields_by_name["value"]
        for key, value in item.items():
            _check_single(value, value_field, field.message_type, f"{path}.{key}")
        return
    if _repeated(field):
        if not isinstance(item, list):
            raise ScenarioError(path, f"must be a list (repeated field {field.name}), got {show(item)}")
        for i, element in enumerate(item):
            _check_single(element, field, owner, f"{path}[{i}]")
        return
    _check_single(item, field, owner, path)


def _check_single(item: Any, field: FieldDescriptor, owner: Descriptor, path: str) -> None:
    """One value of ``field`` (an element, for a repeated one)."""
    if isinstance(item, Template):
        return
    message = field.message_type
    if message is not None and not message.full_name.startswith(_WELL_KNOWN):
        check_message(item, message, path)
        return
    if _has_template(item):
        return
    probe = {field.name: [item] if _repeated(field) else item}
    try:
        json_format.ParseDict(probe, message_class(owner)())
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise ScenarioError(path, f"not a valid {_type_name(field)}: {_reason(exc)}") from None


def _repeated(field: FieldDescriptor) -> bool:
    """``is_repeated`` (protobuf >= 5.29; ``label`` is gone in 7)."""
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else field.label == FieldDescriptor.LABEL_REPEATED


def _has_template(value: Any) -> bool:
    if isinstance(value, Template):
        return True
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return False


def _type_name(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        return field.message_type.full_name
    if field.enum_type is not None:
        return f"enum {field.enum_type.full_name}"
    names = {v: k[5:].lower() for k, v in vars(FieldDescriptor).items() if k.startswith("TYPE_")}
    return names.get(field.type, "value")


def _reason(exc: Exception) -> str:
    text = str(exc).split("\n", 1)[0]
    return text.split(": ", 1)[1] if text.startswith("Failed to parse") and ": " in text else text
