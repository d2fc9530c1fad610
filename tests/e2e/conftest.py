from __future__ import annotations

import pytest

from cli_support import QUICKSTART, REPO, loadray  # noqa: F401  (fixtures below use them)


@pytest.fixture
def cli():
    return loadray
