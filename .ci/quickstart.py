"""The commands of README.md's Quick start, read from its ```bash blocks (one command per line).

``python .ci/quickstart.py`` prints them, one per line, in order; ``.ci/run`` runs them in one fresh
virtualenv and ``tests/test_quickstart.py`` in a fresh clone, so both run what a reader copies.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart_commands(readme: Path = README) -> list[str]:
    """The non-empty lines of the ```bash blocks of the "## Quick start" section, in order."""
    text = readme.read_text(encoding="utf-8")
    match = re.search(r"^## Quick start\n(.*?)(?=^## )", text, flags=re.S | re.M)
    if match is None:
        raise SystemExit(f"{readme}: no '## Quick start' section")
    blocks = re.findall(r"^```bash\n(.*?)^```", match.group(1), flags=re.S | re.M)
    commands = [line.strip() for block in blocks for line in block.splitlines() if line.strip() and not line.startswith("#")]
    if not commands:
        raise SystemExit(f"{readme}: the Quick start has no ```bash block")
    return commands


if __name__ == "__main__":
    sys.stdout.write("".join(f"{command}\n" for command in quickstart_commands()))
