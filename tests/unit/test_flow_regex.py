"""Regexes with bounded work: RE2 (linear time), or a guarded ``re`` without it."""

from __future__ import annotations

import time

import pytest

from loadray.errors import ScenarioError
from loadray.flow.regex import GUARDED_INPUT_MAX, HAVE_RE2, compile_regex

EVIL = "a" * 40 + "!"


def test_re2_is_installed_here() -> None:
    assert HAVE_RE2  # google-re2 is a dependency: the linear-time engine is the one used


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|a)+$", r"(a*)*b", r"(\w+\s?)+\.$"])
def test_catastrophic_patterns_run_in_linear_time_on_re2(pattern: str) -> None:
    compiled = compile_regex(pattern, "e")
    start = time.perf_counter()
    for _ in range(100):
        assert compiled.search(EVIL) is None
    assert compiled.search("a" * 100_000 + "!") is None
    assert time.perf_counter() - start < 0.5  # Python's re takes hours on (a+)+$ at 40 a's


def test_re2_groups_and_matches_like_re() -> None:
    compiled = compile_regex(r"id=(\d+)", "e")
    assert compiled.groups == 1 and compiled.search("x id=42 y").group(1) == "42"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(a)\1", "uses what the linear-time engine (RE2) does not run (backreferences, lookaround): "
                   "invalid escape sequence: \\1"),
        (r"(?=a)a", "uses what the linear-time engine (RE2) does not run (backreferences, lookaround): "
                    "invalid perl operator: (?="),
        (r"(a", "missing ), unterminated subpattern at position 0"),
    ],
)
def test_re2_refusals_name_the_yaml_path(pattern: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        compile_regex(pattern, "flows[0].steps[0].extract.expr")
    assert str(caught.value).startswith("flows[0].steps[0].extract.expr: ")
    assert str(caught.value).endswith(message)


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a*b?)*c", r"((ab)*)+", r"(x+x+)+y", r"(a|b+)*"])
def test_guarded_re_refuses_nested_unbounded_repeats(pattern: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        compile_regex(pattern, "p", use_re2=False)
    assert "repeats a group that holds an unbounded repeat" in str(caught.value)


@pytest.mark.parametrize(
    ("pattern", "text", "found"),
    [(r"id=(\d+)", "x id=42", "id=42"), (r"(ab){2,5}", "abababx", "ababab"), (r"(a|b)*c", "abac", "abac"),
     (r"(?=x)x+", "axx", "xx"), (r"(a)\1", "baa", "aa")],
)
def test_guarded_re_keeps_safe_patterns(pattern: str, text: str, found: str) -> None:
    assert compile_regex(pattern, "p", use_re2=False).search(text).group(0) == found


def test_guarded_re_reads_a_bounded_prefix() -> None:
    tail = compile_regex("needle", "p", use_re2=False)
    assert tail.search("x" * (GUARDED_INPUT_MAX - 6) + "needle") is not None
    assert tail.search("x" * GUARDED_INPUT_MAX + "needle") is None  # past the input limit
