"""Static check of the names a flow's templates use.

Known in a step: the built-ins (``uuid``, ``worker``, ``user``, ``now``), every feeder
column as ``FEEDER.COLUMN``, and every variable extracted by an *earlier* step of the
same flow, as ``NAME`` and, when the step's name is a plain identifier, as
``STEP.NAME``. Anything else is a one-line :class:`ScenarioError` at the template's
YAML path.
"""

from __future__ import annotations

from collections.abc import Sequence

from loadray.errors import ScenarioError
from loadray.fields import is_identifier
from loadray.flow.templates import BUILTINS, Template, Variable
from loadray.scenario.feeds import columns
from loadray.scenario.model import Feed
from loadray.scenario.steps import ParsedStep

SHOWN = 12  # names listed in an 'unknown variable' message


def check_variables(flow: str, steps: Sequence[ParsedStep], feeds: Sequence[Feed]) -> None:
    """Raise at the first template that uses a name not known where it is used."""
    feeders = {feed.spec.name: columns(feed) for feed in feeds}
    base = [f"{name}.{column}" for name, cols in feeders.items() for column in cols]
    extracted: list[str] = []
    for index, parsed in enumerate(steps):
        known = dict.fromkeys([*extracted, *base, *sorted(BUILTINS)])
        for where, template in parsed.templates:
            for name in names_in(template):
                if name not in known:
                    message = _unknown(name, flow, steps, index, feeders, list(known))
                    raise ScenarioError(where, message)
        extracted.extend(_extracted_names(parsed))


def names_in(template: Template) -> list[str]:
    """The variables a template uses, in the order they appear."""
    return list(dict.fromkeys(part.name for part in template.parts if isinstance(part, Variable)))


def _extracted_names(parsed: ParsedStep) -> list[str]:
    step = parsed.step
    names = []
    for extractor in step.extract:
        names.append(extractor.name)
        if is_identifier(step.name):
            names.append(f"{step.name}.{extractor.name}")
    return names


def _unknown(
    name: str,
    flow: str,
    steps: Sequence[ParsedStep],
    index: int,
    feeders: dict[str, tuple[str, ...]],
    known: list[str],
) -> str:
    head, dot, rest = name.partition(".")
    if dot and head in feeders:
        return f"feeder {head!r} has no column {rest!r} (columns: {', '.join(feeders[head])})"
    earlier = {p.step.name: p.step for p in steps[:index]}
    if dot and head in earlier:
        made = ", ".join(e.name for e in earlier[head].extract) or "nothing"
        return f"step {head!r} extracts no {rest!r} (it extracts: {made})"
    if dot:
        return f"{name!r} refers to step {head!r}, which is not an earlier step of flow {flow!r}"
    shown = ", ".join(known[:SHOWN]) + (", ..." if len(known) > SHOWN else "")
    message = f"unknown variable {name!r} (known here: {shown})"
    later = [p.step.name for p in steps[index:] if any(e.name == name for e in p.step.extract)]
    if later:
        message += f"; step {later[0]!r} extracts it, but does not run before this one"
    return message
