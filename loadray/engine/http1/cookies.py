"""A session's cookies: a plain jar (name -> value) sent back as one ``Cookie`` header.

Path and Domain are ignored (every request of a session goes to the one target);
``Max-Age`` <= 0 or a past ``Expires`` deletes the cookie.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parsedate_to_datetime

__all__ = ["cookie_header", "set_cookie", "take_cookies"]


def cookie_header(jar: dict[str, str]) -> str:
    """The value of the ``Cookie`` header for ``jar`` ("" when it is empty)."""
    return "; ".join([f"{k}={v}" for k, v in jar.items()]) if jar else ""


def take_cookies(raw: list[tuple[bytes, bytes]], jar: dict[str, str], now_s: Callable[[], float]) -> bytes | None:
    """Store the response's cookies in ``jar`` (an ``Expires`` compared with ``now_s()``,
    epoch seconds); return its Location (None if absent)."""
    location = None
    for name, value in raw:
        size = len(name)
        if size == 10 and name.lower() == b"set-cookie":
            set_cookie(jar, value.decode("utf-8", "surrogateescape"), now_s)
        elif size == 8 and name.lower() == b"location":
            location = value
    return location


def set_cookie(jar: dict[str, str], header: str, now_s: Callable[[], float]) -> None:
    """Apply one ``Set-Cookie`` header (``name=value; attributes``) to ``jar``; an
    ``Expires`` at or before ``now_s()`` (epoch seconds) deletes the cookie."""
    pair, *attributes = header.split(";")
    name, eq, value = pair.partition("=")
    name = name.strip()
    if not eq or not name:
        return
    for attribute in attributes:
        key, _, arg = attribute.partition("=")
        key = key.strip().lower()
        if key == "max-age":
            try:
                if int(arg.strip()) <= 0:
                    jar.pop(name, None)
                    return
            except ValueError:
                pass
        elif key == "expires":
            try:
                if parsedate_to_datetime(arg.strip()).timestamp() <= now_s():
                    jar.pop(name, None)
                    return
            except (TypeError, ValueError, IndexError):
                pass
    jar[name] = value.strip()
