"""The versioned Arrow schema of one sample row (one intended request).

Shared by the engine (which builds batches), the archive (which writes them) and the
analysis (which reads them). Column meanings are the public contract (DESIGN.md §3):

- ``intended_ns``: epoch ns at which the open-model schedule meant to send it.
- ``sent_ns``: epoch ns at which it was written to the connection (null when dropped).
- ``latency_ns``: done - intended, corrected for coordinated omission (null when dropped).
- ``service_ns``: done - sent (null when dropped).
- ``status``: HTTP status, 0 when no HTTP response arrived.
- ``error``: null on success, else an error kind from :mod:`loadray.engine.errors`.
- ``step``: the request's name; ``phase``: expanded phase index; ``worker``: worker index.
- ``bytes_in``: response body bytes received.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1.0"
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
    ],
    metadata={SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode()},
)

COLUMNS = tuple(SCHEMA.names)


def schema_major(version: str) -> int:
    """Major part of a schema version string ("1.0" -> 1)."""
    return int(version.split(".", 1)[0])
