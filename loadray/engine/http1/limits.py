"""What the HTTP/1.1 core accepts of a response's header block, at most.

llhttp (under httptools) bounds neither the size of a header block nor the number of its
headers: a broken or hostile target could grow a worker's memory without end (a header
line that never ends, a million ``Set-Cookie``, 1xx after 1xx). As curl and Go's
transport do, the core refuses such a response: the request fails at once as
``protocol`` (detail: the message below) and its connection is reset.

- :data:`MAX_HEADER_BYTES`: the bytes a response may send with no body byte in them: its
  header block, interim (1xx) blocks included; past the body, a chunked body's trailer
  (and chunk framing between two body bytes). Counted by read: a read that carries a
  body byte counts only what is not body, then the count starts again;
- :data:`MAX_KEPT_HEADERS`: the headers a flow step keeps of one response (each kept
  header costs a tuple and two bytes objects: ~30 times its bytes on the wire).
"""

from __future__ import annotations

__all__ = ["MAX_HEADER_BYTES", "MAX_KEPT_HEADERS", "TOO_LONG", "TOO_MANY"]

MAX_HEADER_BYTES = 256 * 1024
MAX_KEPT_HEADERS = 1000
TOO_LONG = "response header block over 256 KiB"
TOO_MANY = f"response has over {MAX_KEPT_HEADERS} headers"
