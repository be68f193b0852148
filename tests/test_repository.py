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


def test_same_results_ignores_provenance_only() -> None:
    """experiments/same_results.py: a rerun's provenance may differ, a number may not."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("same_results", ROOT / "experiments" / "same_results.py")
    same = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(same)
    old = {"meta": {"git_revision": "a", "date": "2026-01-01", "wall_time_s": 1.0, "seed": "7"}, "records": [{"mean_n": 0.25}]}
    rerun = {"meta": {"git_revision": "b", "date": "2026-02-02", "wall_time_s": 2.5, "seed": "7"}, "records": [{"mean_n": 0.25}]}
    other = {"meta": dict(rerun["meta"]), "records": [{"mean_n": 0.2500000000000001}]}
    as_json = lambda d: json.dumps(d).encode()  # noqa: E731
    assert same.comparable("r.json", as_json(old)) == same.comparable("r.json", as_json(rerun))
    assert same.comparable("r.json", as_json(old)) != same.comparable("r.json", as_json(other))
    assert same.comparable("r.json", as_json(old)) != same.comparable("r.json", as_json({**rerun, "meta": {**rerun["meta"], "seed": "8"}}))
    report = b"# title\n\nGenerated 2026-11-29T18:05:57+00:00 by stecheck\nProvenance: git 1234\n| 1.5 |\n"
    assert same.comparable("r.md", report) == same.comparable("r.md", report.replace(b"18:05", b"19:28").replace(b"1234", b"abcd"))
    assert same.comparable("r.md", report) != same.comparable("r.md", report.replace(b"| 1.5 |", b"| 1.6 |"))
    assert same.comparable("f.png", b"\x89PNG1") != same.comparable("f.png", b"\x89PNG2")
