"""Flags of ``python -m loadray.target`` / ``loadray target``: parsing and round trip."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from loadray.errors import UsageError
from loadray.target import TargetOptions, add_target_arguments, options_from_args, target_argv


def parse(*argv: str) -> TargetOptions:
    parser = argparse.ArgumentParser()
    add_target_arguments(parser)
    return options_from_args(parser.parse_args(list(argv)))


def test_full_flag_set():
    options = parse(
        "--port", "0", "--latency", "20ms", "--jitter", "5ms", "--error-rate", "1%",
        "--stall-every", "5s", "--stall-for", "500ms", "--seed", "3",
    )
    assert options == TargetOptions(0, 0.02, 0.005, 0.01, 5.0, 0.5, 3)


def test_defaults():
    assert parse() == TargetOptions(port=8080)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--latency", "abc"], "--latency"),
        (["--jitter", "5"], "--jitter"),  # a unit is required on the command line
        (["--jitter=-5ms"], "--jitter"),
        (["--error-rate", "lots"], "--error-rate"),
        (["--error-rate", "150%"], "--error-rate"),
        (["--stall-every", "1s", "--stall-for", "2s"], "--stall-for"),
        (["--stall-for", "x"], "--stall-for"),
        (["--stall-every", "soon"], "--stall-every"),
        (["--port", "http"], "--port"),
        (["--port", "99999"], "--port"),
        (["--seed", "1.5"], "--seed"),
    ],
)
def test_bad_values_name_the_flag(argv, flag):
    with pytest.raises(UsageError) as info:
        parse(*argv)
    assert str(info.value).startswith(f"{flag}: ")
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "options",
    [
        TargetOptions(),
        TargetOptions(1234, 0.02, 0.005, 0.01, 5.0, 0.5, 9),
        TargetOptions(latency_s=1e-5, jitter_s=1e-9, error_rate=1e-4),
        TargetOptions(latency_s=0.1 + 0.2, stall_every_s=3600.0, stall_for_s=1 / 3),
    ],
)
def test_target_argv_round_trips(options):
    assert parse(*target_argv(options)) == options


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--latency", "abc"], "--latency"),
        (["--error-rate", "2"], "--error-rate"),
        (["--bogus"], "--bogus"),
        (["--port"], "--port"),
    ],
)
def test_main_bad_flag_exits_2_with_one_line(argv, flag):
    proc = subprocess.run(
        [sys.executable, "-m", "loadray.target", *argv],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert flag in lines[0]
