"""The ``feeders`` list: data files read at validation into :class:`Feed` objects.

Each file is resolved against the scenario file's folder (``Scenario.source`` keeps it
as written; the model holds the absolute path). A feeder's columns are what its rows
hold; templates refer to them as ``FEEDER.COLUMN``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import existing_file, is_identifier, item_path, unique
from loadray.flow.feeders import compile_feeder, load_rows
from loadray.scenario.limits import Limits
from loadray.scenario.model import Feed


def parse_feeders(
    value: Any, path: str = "feeders", base_dir: str = ".", limits: Limits = Limits()
) -> tuple[Feed, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ScenarioError(path, "must be a list of {name, file, mode, when_exhausted}")
    feeds = tuple(parse_feeder(item, item_path(path, i), base_dir, limits) for i, item in enumerate(value))
    unique(((feed.spec.name, item_path(path, i)) for i, feed in enumerate(feeds)), "feeder")
    return feeds


def parse_feeder(value: Any, path: str, base_dir: str, limits: Limits = Limits()) -> Feed:
    spec = compile_feeder(value, path)
    if not is_identifier(spec.name):
        raise ScenarioError(
            f"{path}.name",
            f"must be a plain name (letters, digits, _) for templates like "
            f"'{{{{ users.column }}}}', got {spec.name!r}",
        )
    file = existing_file(base_dir)(spec.file, f"{path}.file")
    try:
        rows = load_rows(file, limits.max_feeder_size, limits.max_depth)
    except ScenarioError as exc:  # names file:line; keep the YAML path in front
        raise ScenarioError(f"{path}.file", f"{exc.message} ({exc.path})") from None
    return Feed(dataclasses.replace(spec, file=file), tuple(rows))


def columns(feed: Feed) -> tuple[str, ...]:
    """Every column any row has, in the order they first appear."""
    return tuple(dict.fromkeys(column for row in feed.rows for column in row))
