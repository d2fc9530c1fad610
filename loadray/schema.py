"""The versioned Arrow schema of one sample row (one intended request).

Shared by the engine (which builds batches), the archive (which writes them) and the
analysis (which reads them). Column meanings are the public contract (DESIGN.md §3):

- ``intended_ns``: epoch ns at which the open-model schedule meant to send it.
- ``sent_ns``: epoch ns at which it was written to the connection (null when dropped).
- ``latency_ns``: done - intended, corrected for coordinated omission (null when dropped).
- ``service_ns``: done - sent (null when dropped).
- ``status``: HTTP status, 0 when no HTTP response arrived.
- ``error``: null on success, else an error kind from :mod:`loadray.kinds`.
- ``step``: the request's name; ``phase``: expanded phase index; ``worker``: worker index.
- ``bytes_in``: response body bytes received.

Added in 1.1 (a 1.0 archive reads with these filled in: attempt 1, the rest null):

- ``attempt``: 1 for the first try of a logical request, 2.. for its retries. A retry's
  ``intended_ns`` is the first attempt's, so its ``latency_ns`` spans every attempt so
  far, while ``sent_ns``/``service_ns`` are its own.
- ``user``: the closed model's virtual user (cluster-wide id); null in the open model.
- ``flow_id``: the flow instance (one arrival or one user iteration), unique in the run;
  null for a plain request on the fast path.
- ``flow_ns``: on the last row of a flow instance only: the flow's end-to-end latency,
  from its intended start to that row's completion.
- ``trace_id``: the W3C trace id (32 hex digits) sent in ``traceparent``; null when
  tracing is off. Retries of a request share it.

Added in 1.2 (a 1.0 or 1.1 archive reads with it null):

- ``error_detail``: on a row whose failure came from an exception (an extraction or a
  check that could not be evaluated, a step that could not be rendered, a transport
  failure on the flow path, a failure inside the generator): the exception's type and
  the first line of its message, at most 200 characters (``error`` keeps
  the kind). Null on success and where the kind says it all.

Added in 1.3 (an older archive reads with them null):

- ``ttfb_ns``: time to first byte: from ``sent_ns`` to the first byte of the response
  body (after the headers; for gRPC the first response message). Null when no body
  byte arrived or the path does not measure it.
- ``chunks``: how many body chunks (HTTP chunked / SSE events / gRPC messages) the
  response arrived in. Null where not measured.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1.3"
SCHEMA_VERSION_KEY = b"loadray.schema_version"

SCHEMA = pa.schema(
    [
        pa.field("intended_ns", pa.int64(), nullable=False),
        pa.field("sent_ns", pa.int64()),
        pa.field("latency_ns", pa.int64()),
        pa.field("service_ns", pa.int64()),
        pa.field("status", pa.int16(), nullable=False),
        pa.field("error", pa.dictionary(pa.int8(), pa.string())),
        pa.field("step", pa.dictionary(pa.int16(), pa.string())),
        pa.field("phase", pa.int16(), nullable=False),
        pa.field("worker", pa.int16(), nullable=False),
        pa.field("bytes_in", pa.int32(), nullable=False),
        pa.field("attempt", pa.int8(), nullable=False),
        pa.field("user", pa.int32()),
        pa.field("flow_id", pa.int64()),
        pa.field("flow_ns", pa.int64()),
        pa.field("trace_id", pa.string()),
        pa.field("error_detail", pa.dictionary(pa.int32(), pa.string())),
        pa.field("ttfb_ns", pa.int64()),
        pa.field("chunks", pa.int32()),
    ],
    metadata={SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode()},
)

COLUMNS = tuple(SCHEMA.names)


def schema_major(version: str) -> int:
    """Major part of a schema version string ("1.0" -> 1)."""
    return int(version.split(".", 1)[0])


_DEFAULTS_1_1 = {"attempt": 1}  # every other column added since 1.0 defaults to null


def complete(columns: dict) -> pa.Table:
    """A table in :data:`SCHEMA` from a mapping of column name -> values, the columns
    a 1.0 or 1.1 writer did not know filled in (``attempt`` 1, the others null)."""
    n = len(next(iter(columns.values()))) if columns else 0
    full = {}
    for field in SCHEMA:
        if field.name in columns:
            full[field.name] = columns[field.name]
        elif field.name in _DEFAULTS_1_1:
            full[field.name] = pa.array([_DEFAULTS_1_1[field.name]] * n, field.type)
        else:
            full[field.name] = pa.nulls(n, field.type)
    return pa.Table.from_pydict(full, schema=SCHEMA)


def from_rows(rows: list[dict]) -> pa.Table:
    """A table in :data:`SCHEMA` from row dicts; missing columns as in :func:`complete`."""
    return pa.Table.from_pylist([{**_DEFAULTS_1_1, **row} for row in rows], schema=SCHEMA)
