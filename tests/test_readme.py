"""README.md's generated sections equal a regeneration from the committed results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_is_generated_from_results() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "update_readme.py"), "--check"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr


def test_readme_gives_exactly_two_quick_start_commands() -> None:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = quick.split("```bash\n")[1:]
    commands = [b.split("```", 1)[0].strip() for b in blocks]
    assert commands == ["pip install . && stecheck simulate", "pip install -e '.[test]' && python -m pytest"]
    assert ".ci/quickstart.py" in (ROOT / ".ci" / "run").read_text()  # CI runs these very lines, in order


def _update_readme():
    import importlib.util

    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "experiments" / "update_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_check_compares_numbers_at_their_printed_precision() -> None:
    same = _update_readme().same_at_printed_precision
    # one unit in the last printed digit: a rerun elsewhere may round the other way
    assert same("E[n] = -2.5e-18 (exact)", "E[n] = -2.4e-18 (exact)")
    assert same("| 0.3333 | 2 |", "| 0.3334 | 2 |") and same("1.999", "2.000")
    assert not same("100 of 100 bounds hold", "99 of 100 bounds hold")  # whole numbers match exactly
    # anything more is a change
    assert not same("| 0.3333 |", "| 0.3335 |")
    assert not same("-2.5e-18", "2.5e-18")
    assert not same("-2.5e-18", "-2.5e-17")
    assert not same("holds for k=1-4", "holds for k=1-3")
    assert not same("a holds", "a fails")
