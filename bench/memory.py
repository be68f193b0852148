"""Target 3: one cell at 1e9 samples with peak RSS under 300 MB, constant in the sample count.

Each measurement is a fresh process (``python bench/memory.py --child N``) that runs the engine on one
cell -- normal(0.5,0.15), k = 4, half-even, forward and central at the 5 default steps, Monte Carlo, 2
threads -- and reports its own peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``,
KiB on Linux) after the run; imports (numpy, scipy, numba) are part of it. Run at 1e8 and 1e9 samples to
show the peak does not grow with the sample count.

    python bench/memory.py [--samples N [N ...]] [--max-mb MB] [--no-write]

Writes results/bench/memory.json; exits 1 if a peak reaches --max-mb (default 300).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, write_result

SEED = 0x3E3011E3E3011E3E3011E3E3011E3E30


def child(samples: int) -> None:
    """Run the cell and print ``{"samples", "peak_rss_mb", "seconds"}`` as JSON."""
    from stecheck.config import RunConfig
    from stecheck.engine.runner import run

    config = RunConfig(name="bench-memory", inputs=("normal(0.5,0.15)",), bits=(4,), samples=samples, seed=SEED,
                       method="mc")
    start = time.perf_counter()
    records = run(config, threads=2).records
    seconds = time.perf_counter() - start
    assert records[0]["samples"] == samples
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"samples": samples, "peak_rss_mb": peak_kib / 1024, "seconds": seconds}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=int, nargs="+", default=[10**8, 10**9])
    parser.add_argument("--max-mb", type=float, default=300.0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return 0
    runs = []
    for samples in args.samples:
        out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(samples)],
                             check=True, capture_output=True, text=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"{samples:.0e} samples: peak RSS {runs[-1]['peak_rss_mb']:.0f} MB ({runs[-1]['seconds']:.1f} s)")
    peak = max(r["peak_rss_mb"] for r in runs)
    result = {
        "cell": "normal(0.5,0.15), k=4, half-even, forward+central x 5 steps, 2 threads",
        "runs": runs,
        **machine(),
        "peak_rss_mb": peak,
        "growth_mb": runs[-1]["peak_rss_mb"] - runs[0]["peak_rss_mb"],
        "target_mb": args.max_mb,
        "met": peak < args.max_mb,
    }
    print(f"peak RSS {peak:.0f} MB (target < {args.max_mb:.0f} MB); growth from {runs[0]['samples']:.0e} to "
          f"{runs[-1]['samples']:.0e} samples: {result['growth_mb']:+.1f} MB")
    write_result("memory", result, not args.no_write)
    if not result["met"]:
        print(f"missed target: peak RSS {peak:.0f} MB >= {args.max_mb:.0f} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
