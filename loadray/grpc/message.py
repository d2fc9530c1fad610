"""Request messages from rendered JSON values and response messages as JSON (checked
against the proto at validation by :mod:`loadray.scenario.grpc_messages`).

A response reads as JSON with the proto's field names (``preserving_proto_field_name``),
64-bit integers as strings and enums by name, as protobuf's JSON mapping has them.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format

__all__ = ["json_bytes", "to_message", "to_json"]


def to_message(value: Any, cls: Any) -> Any:
    """A message of class ``cls`` from a rendered JSON value; raises ValueError when it
    does not fit."""
    try:
        return json_format.ParseDict(value if value is not None else {}, cls())
    except (json_format.ParseError, TypeError) as exc:
        raise ValueError(str(exc).split("\n", 1)[0]) from None


def to_json(message: Any) -> Any:
    """A response message as a JSON value (proto field names, defaults left out)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
