"""A response as checks and extractors see it: headers decoded,
the kept body joined and, when compressed, decoded to at most ``keep`` bytes (a
1 MB gzip of zeros cannot become 1 GB here), with ``truncated`` set when anything past
``keep`` was dropped."""

from __future__ import annotations

import zlib

from loadray.flow.response import Response

__all__ = ["response_of"]


def response_of(
    status: int, raw: list[tuple[bytes, bytes]], chunks: list[bytes] | None, jar: dict[str, str], compression: bool,
    keep: int, nbytes: int,
) -> Response:
    headers = {name.decode("latin-1"): value.decode("utf-8", "surrogateescape") for name, value in raw}
    body = b"".join(chunks or ())
    cut = nbytes > len(body)
    if compression and body:
        encoding = next((v for k, v in headers.items() if k.lower() == "content-encoding"), "").strip().lower()
        body, cut = _decode(body, encoding, keep, cut)
    return Response(status, headers, body, dict(jar), cut)


def _decode(body: bytes, encoding: str, limit: int, cut: bool) -> tuple[bytes, bool]:
    """A gzip or deflate body decoded to at most ``limit`` bytes, and whether it was
    cut (``cut``: the compressed body already was); a broken one raises ``zlib.error``
    (protocol)."""
    if encoding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, limit, cut)
    if encoding == "deflate":
        try:
            return _inflate(body, zlib.MAX_WBITS, limit, cut)  # zlib-wrapped, as the RFC says
        except zlib.error:
            return _inflate(body, -zlib.MAX_WBITS, limit, cut)  # raw deflate, as some servers send
    return body, cut


def _inflate(data: bytes, wbits: int, limit: int, cut: bool) -> tuple[bytes, bool]:
    if limit <= 0:
        return b"", True
    d = zlib.decompressobj(wbits)
    out = d.decompress(data, limit)
    while not d.eof and d.unconsumed_tail:  # ``limit`` bytes out: is there more?
        if d.decompress(d.unconsumed_tail, 1):
            return out, True
    if d.eof:
        return out, False
    if cut:
        return out, True
    raise zlib.error("incomplete compressed body")
