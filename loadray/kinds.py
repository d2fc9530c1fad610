"""Error kinds: the values a sample row carries in its ``error`` column.

A leaf module (no imports): the engine and the flow steps write these names, the live
heartbeat and the analysis read them, so each is spelled once, here. Which failure
becomes which kind is decided in one place, :mod:`loadray.engine.failures`.
"""

from __future__ import annotations

# -- transport failures ---------------------------------------------------------------
CONNECT_REFUSED = "connect_refused"
CONNECT_TIMEOUT = "connect_timeout"
CONNECT_ERROR = "connect_error"  # DNS failure, unreachable network, other connect errors
TIMEOUT = "timeout"  # no complete response within the request timeout
RESET = "reset"  # the peer closed or reset the connection mid-request (HTTP/2: or reset the stream)
PROTOCOL = "protocol"  # the response could not be parsed as HTTP/1.1 (HTTP/2: a frame broke the protocol)
GOAWAY = "goaway"  # HTTP/2: the server sent GOAWAY before processing the stream (safe to retry)
TLS = "tls"
HTTP_4XX = "http_4xx"
HTTP_5XX = "http_5xx"

# -- the generator's own accounting -----------------------------------------------------
DROPPED = "dropped"  # never sent: the in-flight cap was reached (when_full: drop)
CUT = "cut"  # sent, still in flight when the run stopped
FENCED = "fenced"  # never sent: the worker's lease had lapsed, or the run's hard end passed
INTERNAL = "internal"  # a failure inside the generator itself (a defect): the run exits 1

# -- flow steps -------------------------------------------------------------------------
CHECK = "check"  # a check failed; the row says ``check:<name>``, its kind is ``check``
CHECK_PREFIX = CHECK + ":"
CHECK_ERROR = "check_error"  # a check raised: it could not tell pass from fail
EXTRACT = "extract"  # an extraction found nothing or raised
TEMPLATE = "template"  # a step used a variable that no earlier step extracted

#: The kinds a transport or the engine records (flow-step kinds come on top).
KINDS = (
    CONNECT_REFUSED,
    CONNECT_TIMEOUT,
    CONNECT_ERROR,
    TIMEOUT,
    RESET,
    PROTOCOL,
    GOAWAY,
    TLS,
    HTTP_4XX,
    HTTP_5XX,
    DROPPED,
    CUT,
    FENCED,
    INTERNAL,
)

#: Rows of these kinds were never sent (``dropped`` in the summary's accounting).
NEVER_SENT = (DROPPED, FENCED)
#: Failures inside the generator rather than answers of the target: they fail the run.
GENERATOR_KINDS = (INTERNAL, EXTRACT, CHECK_ERROR)

# -- gRPC calls ---------------------------------------------------------------------------
#: gRPC status codes by number; a gRPC row's ``status`` is the code's number (0 = OK).
GRPC_CODES = (
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
)
#: A call that ended with code C (not OK) is error ``grpc_<c>``: ``grpc_unavailable``
#: (also: nothing listens, the connection broke), ``grpc_deadline_exceeded`` (the step's
#: ``timeout`` passed), ``grpc_internal``...; indexed by code (index 0, OK, is None).
GRPC_KINDS = (None, *("grpc_" + name.lower() for name in GRPC_CODES[1:]))
GRPC_MESSAGE = "grpc_message"  # the rendered message does not fit the request type: never sent
