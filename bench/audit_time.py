"""Wall time of ``stecheck audit`` with its defaults, against the 30-second target.

Runs the whole command (``python -m stecheck audit --no-save --quiet``: interpreter start, imports, every
engine run and every step) in a fresh process, several times, and reports the median.

    python bench/audit_time.py [--repeats R] [--target SECONDS] [--no-write]

Writes results/bench/audit_time.json; exits 1 when the median misses the target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import write_result

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "stecheck", "audit", "--no-save", "--quiet", "--format", "json"]


def one_run() -> tuple[float, dict]:
    """Seconds of one default audit, and its meta."""
    start = time.perf_counter()
    proc = subprocess.run(COMMAND, capture_output=True, text=True, cwd=ROOT, check=True)
    elapsed = time.perf_counter() - start
    return elapsed, json.loads(proc.stdout)["meta"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=30.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.repeats)]
    times = [t for t, _ in runs]
    median = statistics.median(times)
    meta = runs[0][1]
    result = {
        "command": "stecheck audit (defaults, --no-save)",
        "samples": meta["config"]["samples"],
        "bits": meta["config"]["bits"],
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "seconds": times,
        "median_s": median,
        "target_s": args.target,
        "ratio_to_target": median / args.target,
        "met": median <= args.target,
    }
    print(f"stecheck audit (defaults): median {median:.1f} s over {args.repeats} runs vs target {args.target:g} s "
          f"(ratio {median / args.target:.2f})")
    write_result("audit_time", result, not args.no_write)
    if median > args.target:
        print(f"missed target: {median:.1f} s > {args.target:g} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
