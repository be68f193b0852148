"""Per-sample cost of the engine against the bare cost of drawing the same samples.

One cell (normal input, one k, half-even rounding) with all default statistics: moments, KS,
chi-square, 8 Fourier magnitudes, forward and central E[D_h] for 5 step sizes. Both timings are medians
of repeated runs in this process, single thread; the printed figure is their ratio.

    python bench/engine_cost.py [--samples N] [--repeats R] [--max-ratio X]

Writes results/bench/engine_cost.json; exits 1 if --max-ratio is given and missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from stecheck.config import RunConfig
from stecheck.distributions import parse_input
from stecheck.engine import run
from stecheck.sampling import CHUNK_SIZE, chunk_plan, chunk_rng, DRAW

ROOT = Path(__file__).resolve().parents[1]


def bare_draw(spec: str, samples: int, seed: int) -> None:
    """Draw the same chunks with the same generators and do nothing else."""
    inp = parse_input(spec)
    plan = chunk_plan(inp, samples)
    for index in range(plan.count):
        inp.dist.draw(chunk_rng(seed, inp, index, DRAW), plan.length(index))


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4 * CHUNK_SIZE * 4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-ratio", type=float, default=None)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    spec, seed = "normal(0.5,0.15)", 12345
    config = RunConfig(name="bench", inputs=(spec,), bits=(4,), samples=args.samples, seed=seed)
    engine = median_time(lambda: run(config, threads=1), args.repeats)
    draw = median_time(lambda: bare_draw(spec, args.samples, seed), args.repeats)
    ratio = engine / draw
    result = {
        "cell": f"{spec}, k=4, half-even, forward+central x 5 steps",
        "samples": args.samples,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "engine_ns_per_sample": 1e9 * engine / args.samples,
        "draw_ns_per_sample": 1e9 * draw / args.samples,
        "ratio": ratio,
    }
    print(f"engine/draw cost ratio: {ratio:.2f} ({result['engine_ns_per_sample']:.1f} vs {result['draw_ns_per_sample']:.1f} ns/sample)")
    if not args.no_write:
        out = ROOT / "results" / "bench"
        out.mkdir(parents=True, exist_ok=True)
        (out / "engine_cost.json").write_text(json.dumps(result, indent=1) + "\n")
    if args.max_ratio is not None and ratio > args.max_ratio:
        print(f"missed target: ratio {ratio:.2f} > {args.max_ratio}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
