"""Builders shared by the tests (import as ``from helpers import ...``: pytest puts
``tests/`` on the path)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from loadray.schema import SCHEMA


def first_attempt_columns(n: int) -> list[pa.Array]:
    """The columns after ``bytes_in`` (schema 1.1 and 1.2) of ``n`` rows that are plain
    first attempts outside any flow, untraced, with no ``error_detail``."""
    later = SCHEMA.names[SCHEMA.get_field_index("attempt"):]
    return [pa.array(np.ones(n, dtype=np.int8))] + [pa.nulls(n, SCHEMA.field(name).type) for name in later[1:]]
