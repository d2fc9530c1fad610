"""What the CLI tests share (imported by name: a test module importing ``conftest``
would get whichever conftest pytest loaded first)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "scenarios" / "quickstart.yaml"


def loadray(*args, timeout=180, **kwargs) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process (its own embedded Ray when it runs load)."""
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    return subprocess.run(
        [sys.executable, "-m", "loadray", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=kwargs.get("cwd", REPO),
    )
