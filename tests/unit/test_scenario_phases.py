"""Phase shapes: constant, ramp, steps (expanded into constant phases)."""

from __future__ import annotations

import pytest

from loadray.scenario.model import Phase
from loadray.scenario.phases import parse_load


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        ([{"duration": "10s", "rate": 500}], [Phase(10.0, 500.0, None, 0)]),
        ([{"duration": 2, "rate": 0.5}], [Phase(2.0, 0.5, None, 0)]),
        ([{"duration": "1m30s", "rate": 10, "to": 0}], [Phase(90.0, 10.0, 0.0, 0)]),
        ([{"duration": "250ms", "rate": 0, "to": 100}], [Phase(0.25, 0.0, 100.0, 0)]),
        (
            [{"rate": 100, "step": 50, "every": "10s", "times": 4}],
            [Phase(10.0, r, None, 0) for r in (100.0, 150.0, 200.0, 250.0)],
        ),
        (
            [{"duration": 5, "rate": 1}, {"rate": 300, "step": -100, "every": 2, "times": 3}],
            [Phase(5.0, 1.0, None, 0), Phase(2.0, 300.0, None, 1), Phase(2.0, 200.0, None, 1),
             Phase(2.0, 100.0, None, 1)],
        ),
        ([{"rate": 7, "step": 0, "every": "1s", "times": 1}], [Phase(1.0, 7.0, None, 0)]),
    ],
)
def test_phases_expand(phases, expected):
    assert parse_load({"phases": phases}) == ("open", tuple(expected))


def test_end_rate_of_expanded_phases():
    _, phases = parse_load({"model": "open", "phases": [{"duration": 1, "rate": 5, "to": 9}]})
    assert [p.end_rate for p in phases] == [9.0]
