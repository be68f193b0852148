"""Compare results/ in the working tree with a committed revision, apart from provenance.

A rerun of ``experiments/regenerate.sh`` must reproduce every committed number. The provenance of a result
(git revision, date, wall time, the command line and platform that ran it) differs from run to run by
design, so ``git diff --exit-code results/`` cannot be the test; this script is. It compares every file
under results/ with its version at REV (default HEAD):

- JSON files: equal after removing the provenance keys (:data:`PROVENANCE_KEYS`) wherever they occur;
- Markdown and text files: equal after removing the provenance lines (:data:`PROVENANCE_LINE`);
- anything else (figures, CSV): byte for byte.

    python experiments/same_results.py [--rev REV] [--ignore GLOB ...]

Prints one line per differing, new or missing file and exits 1 if there is any; 0 when all agree.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: Keys that record how and when a result was made, not what it is.
PROVENANCE_KEYS = frozenset({"git_revision", "date", "wall_time_s", "argv", "platform", "cpu_count", "load_average",
                             "elapsed_s", "generated", "timing_s"})
#: Lines of Markdown/text outputs that carry provenance (the report's header and per-run provenance).
PROVENANCE_LINE = re.compile(r"^(Generated \d{4}-\d\d-\d\dT|Provenance: )")


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in PROVENANCE_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def comparable(path: str, data: bytes) -> Any:
    """What of a result file must reproduce: parsed JSON without provenance, text without its lines, or bytes."""
    if path.endswith(".json"):
        return _strip(json.loads(data))
    if path.endswith((".md", ".txt")):
        return [line for line in data.decode("utf-8").splitlines() if not PROVENANCE_LINE.match(line)]
    return data


def committed_files(rev: str) -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", rev, "--", "results"],
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def committed_bytes(rev: str, path: str) -> bytes:
    return subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], capture_output=True, check=True).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="the committed revision to compare with (default HEAD)")
    parser.add_argument("--ignore", action="append", default=["results/bench/*"],
                        help="glob of paths not compared (default: results/bench/*, timings of this machine)")
    args = parser.parse_args()
    ignored = lambda p: any(fnmatch.fnmatch(p, g) for g in args.ignore)  # noqa: E731
    committed = [p for p in committed_files(args.rev) if not ignored(p)]
    present = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "results").rglob("*") if p.is_file())
    problems = [f"new (not in {args.rev}): {p}" for p in present if not ignored(p) and p not in set(committed)]
    for path in committed:
        local = ROOT / path
        if not local.is_file():
            problems.append(f"missing: {path}")
        elif comparable(path, committed_bytes(args.rev, path)) != comparable(path, local.read_bytes()):
            problems.append(f"differs: {path}")
    for line in problems:
        print(line)
    print(f"{len(committed) - sum(p.startswith(('differs', 'missing')) for p in problems)} of {len(committed)} result "
          f"files reproduce {args.rev} apart from provenance; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
