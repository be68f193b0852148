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
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text()
