"""JMESPath nesting is bounded at validation, whatever the recursion limit is."""

from __future__ import annotations

import sys

import pytest

from loadray.errors import ScenarioError
from loadray.flow.query import MAX_NESTING, compile_query, nesting


@pytest.mark.parametrize(("expr", "depth"), [
    ("a.b", 0),
    ("abs(x)", 1),
    ("f(g(h(x)))", 3),
    ("a[?b == `[[[`]", 1),  # brackets inside a literal do not count
    ("{k: [x[0]]}", 3),
])
def test_nesting(expr, depth):
    assert nesting(expr) == depth


def test_too_deep_is_refused_even_with_a_high_recursion_limit():
    expr = "abs(" * (MAX_NESTING + 1) + "@" + ")" * (MAX_NESTING + 1)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(ScenarioError, match="nested too deep"):
            compile_query(expr, "x")
    finally:
        sys.setrecursionlimit(old)
    assert compile_query("abs(" * MAX_NESTING + "@" + ")" * MAX_NESTING, "x") is not None
