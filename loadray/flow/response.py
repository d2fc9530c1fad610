"""One HTTP response as extractors and checks see it; the body is parsed at most once.

The body is what the step's ``max_body`` let the client keep: when the response was
longer, ``truncated`` is set, the rest was counted (``bytes_in``) and discarded, and
whatever needs the whole body (``json``) raises :class:`BodyOverMax`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property


class BodyOverMax(Exception):
    """A check or extraction needs more of the body than ``max_body`` kept."""

    def __init__(self, kept: int) -> None:
        super().__init__(f"body over max_body ({kept} bytes kept)")


@dataclass(frozen=True, eq=False)
class Response:
    """Status, headers, body and cookies of one response.

    ``json`` and ``text`` are computed on first use and cached, so every extractor
    and check of a step shares one parse.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    cookies: Mapping[str, str] = field(default_factory=dict)
    truncated: bool = False  # the body is only the first ``max_body`` bytes

    def over_max(self) -> BodyOverMax:
        return BodyOverMax(len(self.body))

    @cached_property
    def json(self) -> object | None:
        """The body as JSON; None when it is empty or not JSON; raises
        :class:`BodyOverMax` when the body was cut at ``max_body``."""
        if self.truncated:
            raise self.over_max()
        try:
            return json.loads(self.body)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            return None

    @cached_property
    def text(self) -> str:
        """The (kept part of the) body as text."""
        return self.body.decode("utf-8", errors="replace")

    @cached_property
    def _folded_headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name; None when absent."""
        return self._folded_headers.get(name.lower())
