"""One HTTP response as extractors and checks see it; the body is parsed at most once."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property


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

    @cached_property
    def json(self) -> object | None:
        """The body as JSON; None when it is empty or not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            return None

    @cached_property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @cached_property
    def _folded_headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name; None when absent."""
        return self._folded_headers.get(name.lower())
