"""Regenerate the generated sections of README.md from the committed files under results/.

Each section sits between ``<!-- begin:NAME -->`` and ``<!-- end:NAME -->`` markers and is rendered by
``experiments/readme_sections/NAME.py`` (its ``render() -> str``), from results files only: no statistic
is computed here.

    python experiments/update_readme.py          # rewrite README.md
    python experiments/update_readme.py --check  # exit 1 if README.md is out of date

``--check`` compares what the README prints at the precision it prints: the text must be the same,
and two printed numbers agree when they differ by at most one unit in the last digit printed (a
rerun on another machine sums in another order, and a value on a rounding boundary may print one
digit apart). Whole numbers (counts, bit widths) must match exactly.
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
            body = fn().rstrip("\n")
            body = body + "\n" if body else ""  # a section with nothing to show stays empty
            text = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(3), text)
    return text


NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")


def _unit(token: str) -> float:
    """One unit in the last printed digit of ``token`` (``0.3333`` -> 1e-4, ``-2.5e-18`` -> 1e-19)."""
    mantissa, _, exponent = token.lstrip("-").replace(",", "").partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def same_at_printed_precision(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` have the same text and their numbers agree to one unit in the last printed digit."""
    if a == b:
        return True
    if NUMBER.split(a) != NUMBER.split(b):
        return False
    for x, y in zip(NUMBER.findall(a), NUMBER.findall(b)):
        if x != y and not any(c in x + y for c in ".e"):
            return False
        if x != y and abs(float(x.replace(",", "")) - float(y.replace(",", ""))) > max(_unit(x), _unit(y)) * (1 + 1e-9):
            return False
    return True


def first_difference(a: str, b: str) -> str:
    """The first line pair that is not the same at printed precision (for the --check message)."""
    for x, y in zip(a.splitlines(), b.splitlines()):
        if not same_at_printed_precision(x, y):
            return f"README:      {x[:200]}\nregenerated: {y[:200]}"
    return "the line counts differ"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs from its regeneration")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    current = readme.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if not same_at_printed_precision(current, fresh):
            print("README.md is out of date: run python experiments/update_readme.py\n" + first_difference(current, fresh),
                  file=sys.stderr)
            return 1
        return 0
    readme.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
