"""The repository's own files: nothing tracked is ignored, extras are ranges, CI runs what the README says."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_gitignore_lists_no_tracked_file() -> None:
    done = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--ignored", "--exclude-standard"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == []
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "results/report.md"], capture_output=True, text=True, check=True)
    assert tracked.stdout.strip() == "results/report.md"  # committed, so never ignored


def test_optional_extras_are_version_ranges() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for extra, requirements in project["optional-dependencies"].items():
        for requirement in requirements:
            assert "==" not in requirement, (extra, requirement)
    assert project["optional-dependencies"]["torch"] == ["torch>=2.13,<3"]
    assert any(r.startswith("platformdirs") for r in project["dependencies"])
