"""The ``load`` section: the model, its phases expanded into :class:`Phase` objects, and
the closed model's think time.

Open model (cluster-wide requests/s), three phase shapes:

- constant ``{duration: 10s, rate: 500}``
- ramp     ``{duration: 20s, rate: 500, to: 2000}`` (linear; ``rate`` may be 0 here)
- steps    ``{rate: 100, step: 50, every: 10s, times: 4}``: ``times`` constant levels
  100, 150, 200, 250 of ``every`` each (Gatling's ``incrementUsersPerSec``), all with
  ``source`` = the YAML index.

Closed model (cluster-wide virtual users, whole numbers): the same shapes with
``users`` in place of ``rate`` (``{duration: 10s, users: 10}``, ``{duration: 20s,
users: 10, to: 50}``, ``{users: 10, step: 5, every: 10s, times: 4}``); the counts are
stored in ``Phase.rate``/``Phase.to``. ``think`` (closed only) is a constant duration,
``{uniform: [50ms, 150ms]}`` or ``{exponential: 100ms}`` (the mean).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadray.errors import ScenarioError
from loadray.fields import (
    Fields,
    Reader,
    choice,
    duration,
    integer,
    item_path,
    key_path,
    nonempty_list,
    number,
    show,
)
from loadray.scenario.model import Phase, Think

MODELS = ("open", "closed")
LOAD_KEYS = ("model", "phases", "think")
STEP_KEYS = ("step", "every", "times")
THINK_KEYS = ("uniform", "exponential")
MAX_STEPS = 10_000
EXACT = 2**53  # user counts stay exact as floats; limits.max_users is far lower


@dataclass(frozen=True)
class Shape:
    """What a phase's level means in one load model."""

    model: str
    key: str  # "rate" or "users"
    unit: str  # for messages
    level: Reader[float]  # a constant or steps level
    ramp_end: Reader[float]  # either end of a ramp (may be 0)
    step: Reader[float]
    wrong_key: str  # the other model's key
    wrong_hint: str

    @property
    def keys(self) -> tuple[str, ...]:
        return ("duration", self.key, "to") + STEP_KEYS


OPEN = Shape(
    "open", "rate", "req/s", number(gt=0), number(ge=0), number(), "users",
    "'users' sets virtual users in the closed model; an open phase sets 'rate' (requests/s), "
    "or set load.model: closed",
)
CLOSED = Shape(
    "closed", "users", "users", integer(ge=1, le=EXACT), integer(ge=0, le=EXACT),
    integer(ge=-EXACT, le=EXACT), "rate",
    "'rate' sets requests/s in the open model; a closed phase sets 'users' (virtual users), "
    "or set load.model: open",
)
SHAPES = {shape.model: shape for shape in (OPEN, CLOSED)}


def parse_load(value: Any, path: str = "load") -> tuple[str, tuple[Phase, ...], Think]:
    fields = Fields(value, path, LOAD_KEYS)
    model = fields.get("model", choice(*MODELS), "open")
    if "think" in fields and model != "closed":
        raise ScenarioError(
            fields.path_of("think"),
            "only valid with load.model: closed (open-model arrivals do not wait for each other)",
        )
    phases: list[Phase] = []
    for i, item in enumerate(fields.get("phases", nonempty_list("phase"))):
        phases.extend(parse_phase(item, item_path(fields.path_of("phases"), i), i, SHAPES[model]))
    return model, tuple(phases), fields.get("think", parse_think, Think())


def parse_phase(value: Any, path: str, index: int, shape: Shape = OPEN) -> list[Phase]:
    if isinstance(value, dict) and shape.wrong_key in value:
        raise ScenarioError(key_path(path, shape.wrong_key), shape.wrong_hint)
    fields = Fields(value, path, shape.keys)
    if any(key in fields for key in STEP_KEYS):
        return _steps(fields, index, shape)
    duration_s = fields.get("duration", duration())
    if "to" not in fields:
        return [Phase(duration_s, float(fields.get(shape.key, shape.level)), None, index)]
    start = fields.get(shape.key, shape.ramp_end)
    to = fields.get("to", shape.ramp_end)
    if start == 0 and to == 0:
        raise ScenarioError(fields.path_of("to"), "a ramp from 0 to 0 sends nothing")
    return [Phase(duration_s, float(start), float(to), index)]


def _steps(fields: Fields, index: int, shape: Shape) -> list[Phase]:
    what = f"a steps phase ({shape.key}, step, every, times)"
    for key, why in (("to", "put a ramp in its own phase"), ("duration", "it lasts every x times")):
        if key in fields:
            raise ScenarioError(fields.path, f"{what} cannot also have {key!r}; {why}")
    for key in (shape.key,) + STEP_KEYS:
        if key not in fields:
            raise ScenarioError(fields.path_of(key), f"is required in {what}")
    first = fields.get(shape.key, shape.level)
    step = fields.get("step", shape.step)
    every = fields.get("every", duration())
    times = fields.get("times", integer(ge=1, le=MAX_STEPS))
    levels = [float(first + k * step) for k in range(times)]
    if levels[-1] <= 0:
        raise ScenarioError(
            fields.path_of("step"),
            f"level {times - 1} would be {levels[-1]:g} {shape.unit} ({shape.key} + {times - 1} "
            "x step); every level must be > 0",
        )
    return [Phase(every, level, None, index) for level in levels]


def parse_think(value: Any, path: str) -> Think:
    """``100ms`` (constant), ``{uniform: [50ms, 150ms]}`` or ``{exponential: 100ms}``."""
    if not isinstance(value, dict):
        return Think("constant", duration(positive=False)(value, path))
    fields = Fields(value, path, THINK_KEYS)
    if len(value) != 1:
        raise ScenarioError(path, "must have exactly one of: uniform, exponential")
    if "exponential" in fields:
        return Think("exponential", fields.get("exponential", duration()))
    low, high = fields.get("uniform", _bounds)
    return Think("uniform", low, high)


def _bounds(value: Any, path: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise ScenarioError(path, f"must be a list [low, high] of two durations, got {show(value)}")
    low, high = (duration(positive=False)(item, item_path(path, i)) for i, item in enumerate(value))
    if high < low:
        raise ScenarioError(item_path(path, 1), f"must be >= the low bound ({show(value[0])})")
    return low, high
