"""Target 4: every exact field of the default experiment (all cells) in under 1 second.

Times ``stecheck.engine.runner.run`` on the default experiment with ``method = "exact"`` (9 inputs x k = 1..8 x
forward/central x 5 steps: 720 records, every exact field), in this process, single thread, with the
exact module's caches cleared before each repeat so every repeat starts cold; the printed figure is the
median.

    python bench/exact_mode.py [--repeats R] [--target SECONDS] [--no-write]

Writes results/bench/exact_mode.json; exits 1 if the median reaches --target (default 1 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

from _common import machine, write_result
from stecheck.config import default_config
from stecheck.core import exact
from stecheck.engine.runner import run


def timed_run(config) -> tuple[float, int]:
    exact._parts_at.cache_clear()
    exact._support.cache_clear()
    start = time.perf_counter()
    records = run(config).records
    return time.perf_counter() - start, len(records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--target", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    config = replace(default_config(), method="exact")
    timed_run(config)  # imports and scipy's first calls
    runs = [timed_run(config) for _ in range(args.repeats)]
    seconds = statistics.median(t for t, _ in runs)
    result = {
        "run": "default experiment, method = exact (every exact field of every cell)",
        "records": runs[0][1],
        "repeats": args.repeats,
        **machine(),
        "seconds": seconds,
        "target_seconds": args.target,
        "met": seconds < args.target,
    }
    print(f"exact mode, default experiment ({runs[0][1]} records): {seconds:.3f} s (target < {args.target} s)")
    write_result("exact_mode", result, not args.no_write)
    if not result["met"]:
        print(f"missed target: {seconds:.3f} s >= {args.target} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
