"""The ``load`` section: the model and its phases, expanded into :class:`Phase` objects.

Three phase shapes (cluster-wide requests/s):

- constant ``{duration: 10s, rate: 500}``
- ramp     ``{duration: 20s, rate: 500, to: 2000}`` (linear; ``rate`` may be 0 here)
- steps    ``{rate: 100, step: 50, every: 10s, times: 4}``: ``times`` constant levels
  100, 150, 200, 250 of ``every`` each (Gatling's ``incrementUsersPerSec``), all with
  ``source`` = the YAML index.
"""

from __future__ import annotations

from typing import Any

from loadray.errors import ScenarioError
from loadray.scenario.fields import (
    Fields,
    choice,
    duration,
    integer,
    item_path,
    nonempty_list,
    number,
)
from loadray.scenario.model import Phase

MODELS = ("open",)
PHASE_KEYS = ("duration", "rate", "to", "step", "every", "times")
STEP_KEYS = ("step", "every", "times")
MAX_STEPS = 10_000


def parse_load(value: Any, path: str = "load") -> tuple[str, tuple[Phase, ...]]:
    fields = Fields(value, path, ("model", "phases"))
    model = fields.get("model", choice(*MODELS), "open")
    phases: list[Phase] = []
    for i, item in enumerate(fields.get("phases", nonempty_list("phase"))):
        phases.extend(parse_phase(item, item_path(fields.path_of("phases"), i), i))
    return model, tuple(phases)


def parse_phase(value: Any, path: str, index: int) -> list[Phase]:
    fields = Fields(value, path, PHASE_KEYS)
    if any(key in fields for key in STEP_KEYS):
        return _steps(fields, index)
    duration_s = fields.get("duration", duration())
    if "to" not in fields:
        return [Phase(duration_s, fields.get("rate", number(gt=0)), None, index)]
    rate = fields.get("rate", number(ge=0))
    to = fields.get("to", number(ge=0))
    if rate == 0 and to == 0:
        raise ScenarioError(fields.path_of("to"), "a ramp from 0 to 0 sends nothing")
    return [Phase(duration_s, rate, to, index)]


def _steps(fields: Fields, index: int) -> list[Phase]:
    for key, why in (("to", "put a ramp in its own phase"), ("duration", "it lasts every x times")):
        if key in fields:
            raise ScenarioError(
                fields.path, f"a steps phase (rate, step, every, times) cannot also have {key!r}; "
                f"{why}"
            )
    for key in ("rate",) + STEP_KEYS:
        if key not in fields:
            raise ScenarioError(
                fields.path_of(key), "is required in a steps phase (rate, step, every, times)"
            )
    rate = fields.get("rate", number(gt=0))
    step = fields.get("step", number())
    every = fields.get("every", duration())
    times = fields.get("times", integer(ge=1, le=MAX_STEPS))
    levels = [rate + k * step for k in range(times)]
    if levels[-1] <= 0:
        raise ScenarioError(
            fields.path_of("step"),
            f"level {times - 1} would be {levels[-1]:g} req/s (rate + {times - 1} x step); "
            "every level must be > 0",
        )
    return [Phase(every, level, None, index) for level in levels]
