"""The package layout: import-linter's contracts hold, can fail, and the public surface is unchanged."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stecheck

ROOT = Path(__file__).resolve().parents[1]
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` in ``root`` (contracts from its pyproject.toml), on the stecheck package found there."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )


def test_import_contracts_hold() -> None:
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("core/wrong.py", "from stecheck.engine.runner import run", "stecheck flows one way"),
        ("records_wrong.py", "import stecheck.cli.app", None),
        ("views/plots/wrong.py", "from stecheck.core.exact import exact_mean_fd", "views never import engine or core"),
    ],
)
def test_a_wrong_import_breaks_a_contract(tmp_path: Path, module: str, line: str, contract: str | None) -> None:
    """A copy of the package with one wrong import in a temporary module: lint-imports names it and fails."""
    shutil.copytree(ROOT / "stecheck", tmp_path / "stecheck", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if module == "records_wrong.py":  # a lazy import inside a bottom module, added to records.py itself
        path = tmp_path / "stecheck" / "records.py"
        path.write_text(path.read_text() + f"\n\ndef _wrong() -> None:\n    {line}\n")
        culprit = "stecheck.records -> stecheck.cli.app"
    else:
        path = tmp_path / "stecheck" / module
        path.write_text(f'"""A deliberately wrong import."""\n\n{line}\n')
        culprit = "stecheck." + module.removesuffix(".py").replace("/", ".")
    proc = _lint(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "BROKEN" in proc.stdout
    assert culprit in proc.stdout
    if contract is not None:
        assert re.search(re.escape(contract) + r".*BROKEN", proc.stdout.replace("\n", " ")), proc.stdout


def test_public_api_is_unchanged() -> None:
    assert stecheck.__all__ == [
        "__version__",
        "Cluster",
        "RunConfig",
        "RunResult",
        "StecheckError",
        "parse_input",
        "quantize",
        "rounding_error",
        "run",
        "simulate",
    ]
    for name in stecheck.__all__:
        assert hasattr(stecheck, name), name


def test_cli_commands_are_unchanged() -> None:
    proc = subprocess.run([sys.executable, "-m", "stecheck", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    commands = proc.stdout.split("Commands:", 1)[1]
    names = [line.split()[0] for line in commands.splitlines() if line.startswith("  ") and line.strip()]
    assert names == ["simulate", "plot", "report", "check", "audit", "cache", "weights", "phase"]
