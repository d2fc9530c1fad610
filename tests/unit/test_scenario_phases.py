"""Phase shapes: constant, ramp, steps (expanded into constant phases); the closed
model's user phases and think time."""

from __future__ import annotations

import pytest

from loadray.scenario.model import Phase, Think
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
    assert parse_load({"phases": phases}) == ("open", tuple(expected), Think())


def test_end_rate_of_expanded_phases():
    _, phases, _ = parse_load({"model": "open", "phases": [{"duration": 1, "rate": 5, "to": 9}]})
    assert [p.end_rate for p in phases] == [9.0]


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        ([{"duration": "10s", "users": 10}], [Phase(10.0, 10.0, None, 0)]),
        ([{"duration": "20s", "users": 0, "to": 50}], [Phase(20.0, 0.0, 50.0, 0)]),
        ([{"duration": 5, "users": 50, "to": 1}], [Phase(5.0, 50.0, 1.0, 0)]),
        (
            [{"users": 10, "step": 5, "every": "10s", "times": 4}],
            [Phase(10.0, u, None, 0) for u in (10.0, 15.0, 20.0, 25.0)],
        ),
    ],
)
def test_closed_phases_count_users(phases, expected):
    assert parse_load({"model": "closed", "phases": phases}) == ("closed", tuple(expected), Think())


@pytest.mark.parametrize(
    ("think", "expected"),
    [
        ("100ms", Think("constant", 0.1)),
        (0, Think("constant", 0.0)),
        ({"uniform": ["50ms", "150ms"]}, Think("uniform", 0.05, 0.15)),
        ({"uniform": ["1s", "1s"]}, Think("uniform", 1.0, 1.0)),
        ({"exponential": "2s"}, Think("exponential", 2.0)),
    ],
)
def test_think_time(think, expected):
    doc = {"model": "closed", "phases": [{"duration": 1, "users": 1}], "think": think}
    assert parse_load(doc)[2] == expected
