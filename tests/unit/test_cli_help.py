"""``--version`` and ``--help``: every verb describes its arguments, gives an example and
its exit codes."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from loadray.cli.main import VERBS
from loadray.cli.parser import build_parser


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"loadray {version('loadray')}\n"


def test_the_top_help_lists_every_verb_with_examples_and_exit_codes(capsys):
    text = _help(capsys)
    assert all(f"    {verb} " in text for verb in VERBS)
    assert all(f"  loadray {verb} " in text for verb in VERBS)  # an example each
    assert "exit codes: 0 ok, 99 thresholds failed" in text


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_has_argument_help_an_example_and_exit_codes(capsys, verb):
    text = _help(capsys, verb)
    assert "exit codes" in text and "example" in text and f"loadray {verb} " in text
    parser = build_parser()._subparsers._group_actions[0].choices[verb]
    undocumented = [a.dest for a in parser._actions if not a.help and a.dest != "help"]
    assert undocumented == []


def test_run_documents_every_exit_code_it_can_return(capsys):
    text = _help(capsys, "run")
    codes = text.split("exit codes:")[1]
    assert all(f"\n  {code} " in codes for code in ("0  ", "99 ", "1  ", "2  ", "130")) and "143 for SIGTERM" in codes
