"""Regenerate the generated sections of README.md from the committed files under results/.

Each section sits between ``<!-- begin:NAME -->`` and ``<!-- end:NAME -->`` markers and is rendered by
``experiments/readme_sections/NAME.py`` (its ``render() -> str``), from results files only: no statistic
is computed here.

    python experiments/update_readme.py          # rewrite README.md
    python experiments/update_readme.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
SECTION_DIR = Path(__file__).resolve().parent / "readme_sections"


def sections() -> dict[str, Callable[[], str]]:
    """NAME -> render function, one per module in readme_sections/ (helpers start with an underscore)."""
    found = {}
    for path in sorted(SECTION_DIR.glob("[!_]*.py")):
        spec = importlib.util.spec_from_file_location(f"readme_sections.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found[path.stem.replace("_", "-")] = module.render
    return found


def render(text: str) -> str:
    for name, fn in sections().items():
        pattern = re.compile(rf"(<!-- begin:{re.escape(name)} -->\n)(.*?)(<!-- end:{re.escape(name)} -->)", re.S)
        if pattern.search(text):
            body = fn().rstrip("\n") + "\n"
            text = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(3), text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs from its regeneration")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    current = readme.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("README.md is out of date: run python experiments/update_readme.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
