"""Scenario files: YAML -> frozen, validated :class:`Scenario` objects.

Every mistake raises :class:`loadray.errors.ScenarioError` naming the YAML path
(``load.phases[1].rate: must be > 0, got -5``).
"""

from loadray.redaction import redact
from loadray.scenario.breakers import parse_breaker
from loadray.scenario.loader import load_scenario, parse_scenario
from loadray.scenario.model import (
    Body,
    Breaker,
    ClusterSettings,
    Feed,
    Flow,
    HttpSettings,
    Phase,
    Scenario,
    Step,
    Target,
    Think,
    Threshold,
    TlsSettings,
)
from loadray.scenario.overrides import apply_overrides
from loadray.scenario.thresholds import parse_threshold

__all__ = [
    "Body",
    "Breaker",
    "ClusterSettings",
    "Feed",
    "Flow",
    "HttpSettings",
    "Phase",
    "Scenario",
    "Step",
    "Target",
    "Think",
    "Threshold",
    "TlsSettings",
    "apply_overrides",
    "load_scenario",
    "parse_breaker",
    "parse_scenario",
    "parse_threshold",
    "redact",
]
