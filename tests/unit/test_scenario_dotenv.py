"""``--env-file``: the dotenv lines loadray reads (a table), errors that name the line
without quoting it, and which source wins."""

from __future__ import annotations

import pytest

from loadray.errors import ScenarioError
from loadray.scenario.dotenv import merged, parse_env, read_env_file


@pytest.mark.parametrize(("line", "name", "value"), [
    ("TOKEN=abc", "TOKEN", "abc"),
    ("export TOKEN=abc", "TOKEN", "abc"),
    ("  TOKEN = abc  ", "TOKEN", "abc"),
    ("TOKEN=abc # a comment", "TOKEN", "abc"),
    ("TOKEN=abc#not-a-comment", "TOKEN", "abc#not-a-comment"),
    ("TOKEN='a b # c $X'", "TOKEN", "a b # c $X"),
    ('TOKEN="a\\nb \\"q\\" \\\\"', "TOKEN", 'a\nb "q" \\'),
    ('TOKEN="x" # note', "TOKEN", "x"),
    ("TOKEN=", "TOKEN", ""),
    ("T_2=${NOT_EXPANDED}", "T_2", "${NOT_EXPANDED}"),
])
def test_lines(line, name, value):
    assert parse_env(f"# header\n\n{line}\n", "f") == {name: value}


@pytest.mark.parametrize(("text", "where", "message"), [
    ("A=1\nnot a line with s3cret\n", "f:2", "expected NAME=VALUE (NAME: letters, digits and _)"),
    ("1A=x\n", "f:1", "expected NAME=VALUE (NAME: letters, digits and _)"),
    ('A="s3cret\n', "f:1", "unclosed double quote (a value does not span lines)"),
    ("A='s3cret\n", "f:1", "unclosed single quote (a value does not span lines)"),
])
def test_a_bad_line_is_named_not_quoted(text, where, message):
    with pytest.raises(ScenarioError) as info:
        parse_env(text, "f")
    assert (info.value.path, info.value.message) == (where, message)
    assert "s3cret" not in str(info.value)


def test_files_and_the_process_environment(tmp_path):
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    first.write_text("A=1\nB=1\n")
    second.write_text("B=2\nC=2\n")
    files = [read_env_file(first), read_env_file(second)]
    assert merged(files, {"C": "process"}) == {"A": "1", "B": "2", "C": "process"}
    with pytest.raises(ScenarioError) as info:
        read_env_file(tmp_path / "missing.env")
    assert str(info.value) == f"--env-file {tmp_path / 'missing.env'}: no such file"
