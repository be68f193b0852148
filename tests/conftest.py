from __future__ import annotations

import os

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from stecheck.cli.app import app

# Property tests draw the same examples on every run (a test that passes once passes always);
# HYPOTHESIS_PROFILE=explore draws fresh ones, to look for new failing cases.
settings.register_profile("fixed", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))

#: Fixed 128-bit seeds for statistical tests.
SEED = 0x9E3779B97F4A7C15F39CC0605CEDC834
SEED_B = 0x243F6A8885A308D313198A2E03707344


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    """Run the CLI in-process; stdout and stderr are kept apart."""
    return runner.invoke(app, list(args), catch_exceptions=False)


__all__ = ["SEED", "SEED_B", "invoke", "app"]
